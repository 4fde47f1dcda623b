package sim

import "crypto/rand"

// ID prefixes used by the real API.
const (
	prefixAgent       = "agent_"
	prefixEnvironment = "env_"
	prefixSession     = "sesn_"
	prefixVault       = "vlt_"
	prefixCredential  = "vcrd_"
	prefixEvent       = "sevt_"
	prefixRequest     = "req_"
	prefixOutcome     = "outc_"
	prefixThread      = "sthr_"
)

// idAlphabet is base58: the real IDs look like sesn_011CZkZAtmR3yMPDzynEDxu7.
const idAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// newID returns prefix followed by "01" and 22 random base58 characters,
// the shape of the real service's identifiers.
func newID(prefix string) string {
	var b [22]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("sim: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	out := make([]byte, 0, len(prefix)+24)
	out = append(out, prefix...)
	out = append(out, "01"...)
	for _, c := range b {
		out = append(out, idAlphabet[int(c)%len(idAlphabet)])
	}
	return string(out)
}
