package pii

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Kind is a class of sensitive value. Policies reason about kinds; the
// Detector string of a Match or Finding says which rule fired.
type Kind string

// The kinds, from most to least sensitive. When two detectors match
// overlapping text, the more sensitive kind wins.
const (
	Secret Kind = "secret" // API keys, access tokens, private keys, JWTs
	Card   Kind = "card"   // payment card numbers that pass the Luhn check
	IBAN   Kind = "iban"   // international bank account numbers with a valid checksum
	SSN    Kind = "ssn"    // US social security numbers, written ddd-dd-dddd
	Email  Kind = "email"  // e-mail addresses
	Phone  Kind = "phone"  // phone numbers in international or North American notation
	IP     Kind = "ip"     // IPv4 and IPv6 addresses
)

// rank orders the kinds, most sensitive first.
func rank(k Kind) int {
	switch k {
	case Secret:
		return 0
	case Card:
		return 1
	case IBAN:
		return 2
	case SSN:
		return 3
	case Email:
		return 4
	case Phone:
		return 5
	}
	return 6
}

// Match is one sensitive value inside a string: s[Start:End].
type Match struct {
	Kind     Kind
	Detector string // e.g. "aws_access_key", "ipv4", "card"
	Start    int
	End      int
}

// Find returns the sensitive values in s, ordered by position and never
// overlapping. Where detectors disagree about a span, the most sensitive
// kind is kept.
func Find(s string) []Match {
	var ms []Match
	ms = findSecrets(s, ms)
	if strings.ContainsAny(s, "0123456789") {
		ms = findCards(s, ms)
		ms = findIBANs(s, ms)
		ms = findSSNs(s, ms)
		ms = findPhones(s, ms)
		ms = findIPs(s, ms)
	}
	if strings.IndexByte(s, '@') >= 0 {
		ms = findEmails(s, ms)
	}
	if len(ms) < 2 {
		return ms
	}
	// Keep the most sensitive of overlapping matches, then the earliest and
	// longest.
	slices.SortStableFunc(ms, func(a, b Match) int {
		if r := rank(a.Kind) - rank(b.Kind); r != 0 {
			return r
		}
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	kept := ms[:0:0]
	for _, m := range ms {
		if !slices.ContainsFunc(kept, func(k Match) bool { return m.Start < k.End && k.Start < m.End }) {
			kept = append(kept, m)
		}
	}
	slices.SortFunc(kept, func(a, b Match) int { return a.Start - b.Start })
	return kept
}

// secretRule is one secret detector: a regular expression and a cheap
// substring test that must hold before the expression runs.
type secretRule struct {
	detector string
	hint     string
	re       *regexp.Regexp
}

// Secrets are recognised by the fixed prefixes their issuers give them.
// A high-entropy string without such a prefix (an AWS secret access key on
// its own, a random password) is not detected: that would flag every hash
// and UUID in arguments.
var secretRules = []secretRule{
	{"anthropic_api_key", "sk-ant-", regexp.MustCompile(`\bsk-ant-[A-Za-z0-9_\-]{20,}`)},
	{"openai_api_key", "sk-", regexp.MustCompile(`\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}`)},
	{"aws_access_key", "A", regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b`)},
	{"github_token", "gh", regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,255}\b`)},
	{"github_token", "github_pat_", regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{22,255}\b`)},
	{"slack_token", "xox", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9\-]{10,}`)},
	{"stripe_key", "_", regexp.MustCompile(`\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}`)},
	{"google_api_key", "AIza", regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}`)},
	// A JWT is three base64url parts, the first two JSON objects ("eyJ" is
	// base64 for `{"`). The signature may be empty (alg "none").
	{"jwt", "eyJ", regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*`)},
	// A private key block runs to its END line, or to the end of the string
	// when the block was cut off.
	{"private_key", "-----BEGIN", regexp.MustCompile(`-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\z)`)},
}

func findSecrets(s string, ms []Match) []Match {
	for _, r := range secretRules {
		if !strings.Contains(s, r.hint) {
			continue
		}
		for _, loc := range r.re.FindAllStringIndex(s, -1) {
			ms = append(ms, Match{Kind: Secret, Detector: r.detector, Start: loc[0], End: loc[1]})
		}
	}
	return ms
}

// E-mail addresses: a local part, "@", and a domain with at least one dot
// and a top-level domain of two or more letters. "user@localhost" is not
// matched; "git@github.com" is.
var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b`)

func findEmails(s string, ms []Match) []Match {
	for _, loc := range emailRE.FindAllStringIndex(s, -1) {
		ms = append(ms, Match{Kind: Email, Detector: "email", Start: loc[0], End: loc[1]})
	}
	return ms
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isWord(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// Card numbers: 13 to 19 digits, written together or in groups separated
// by single spaces or dashes, starting with a known network prefix and
// passing the Luhn check. A Luhn-valid number with an unknown prefix (such
// as 1234567812345670) is not a card. Digits that belong to a longer word,
// a decimal fraction or a dotted sequence are not considered.
func findCards(s string, ms []Match) []Match {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || i > 0 && (isWord(s[i-1]) || s[i-1] == '.') {
			i++
			continue
		}
		// Extend over digits and single separators between digits.
		j := i
		for j < len(s) {
			if isDigit(s[j]) {
				j++
			} else if (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
				j++
			} else {
				break
			}
		}
		if j < len(s) && (isWord(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
			i = j + 1
			continue
		}
		if isCard(s[i:j]) {
			ms = append(ms, Match{Kind: Card, Detector: "card", Start: i, End: j})
		} else if strings.ContainsAny(s[i:j], " -") {
			// Two numbers next to each other ("ref 12 4111111111111111")
			// may hide a card: try each group of digits on its own.
			for k := i; k < j; {
				e := k
				for e < j && isDigit(s[e]) {
					e++
				}
				if isCard(s[k:e]) {
					ms = append(ms, Match{Kind: Card, Detector: "card", Start: k, End: e})
				}
				k = e + 1
			}
		}
		i = j
	}
	return ms
}

// isCard reports whether s (digits with optional spaces or dashes) is a
// plausible payment card number.
func isCard(s string) bool {
	var d [19]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			if n == len(d) {
				return false
			}
			d[n] = s[i] - '0'
			n++
		}
	}
	if n < 13 || !cardPrefix(d[:n]) {
		return false
	}
	return luhn(d[:n])
}

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// cardPrefix reports whether d starts with the issuer prefix of a card
// network that issues numbers of len(d) digits.
func cardPrefix(d []byte) bool {
	p := func(n int) int {
		v := 0
		for _, c := range d[:n] {
			v = v*10 + int(c)
		}
		return v
	}
	n := len(d)
	switch {
	case d[0] == 4: // Visa
		return n == 13 || n == 16 || n == 19
	case p(2) == 34 || p(2) == 37: // American Express
		return n == 15
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720: // Mastercard
		return n == 16
	case p(4) >= 2200 && p(4) <= 2204: // Mir
		return n >= 16
	case p(4) == 6011, p(3) >= 644 && p(3) <= 649, p(2) == 65: // Discover
		return n >= 16
	case p(2) == 62: // UnionPay
		return n >= 16
	case p(4) >= 3528 && p(4) <= 3589: // JCB
		return n >= 16
	case p(3) >= 300 && p(3) <= 305, p(2) == 36, p(2) == 38, p(2) == 39: // Diners Club
		return n >= 14
	case p(4) == 5018, p(4) == 5020, p(4) == 5038, p(4) == 5893, p(4) == 6304, p(4) == 6759, p(4) >= 6761 && p(4) <= 6763: // Maestro
		return true
	}
	return false
}

// US social security numbers: ddd-dd-dddd with the dashes (nine digits on
// their own are too common to call an SSN), excluding numbers the SSA never
// issues: area 000, 666 or 900-999, group 00, serial 0000.
var ssnRE = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)

func findSSNs(s string, ms []Match) []Match {
	if strings.IndexByte(s, '-') < 0 {
		return ms
	}
	for _, loc := range ssnRE.FindAllStringIndex(s, -1) {
		v := s[loc[0]:loc[1]]
		area, group, serial := v[0:3], v[4:6], v[7:11]
		if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
			continue
		}
		if loc[0] > 0 && s[loc[0]-1] == '-' || loc[1] < len(s) && s[loc[1]] == '-' {
			continue // part of a longer dashed number
		}
		ms = append(ms, Match{Kind: SSN, Detector: "ssn", Start: loc[0], End: loc[1]})
	}
	return ms
}

// Phone numbers in two notations: international, a "+" and 8 to 15 digits
// with optional spaces, dots, dashes or a parenthesised group; and North
// American, "(234) 567-8901", "234-567-8901" or "234.567.8901". A bare run
// of digits is not a phone number (order IDs and timestamps look the same).
var (
	intlPhoneRE = regexp.MustCompile(`\+[1-9](?:[ .\-]?(?:\(\d{1,4}\)|\d)){6,18}`)
	nanpPhoneRE = regexp.MustCompile(`(?:\([2-9]\d{2}\) ?|\b[2-9]\d{2}[\-.])\d{3}[\-.]\d{4}\b`)
)

func findPhones(s string, ms []Match) []Match {
	if strings.IndexByte(s, '+') >= 0 {
		for _, loc := range intlPhoneRE.FindAllStringIndex(s, -1) {
			if loc[0] > 0 && isWord(s[loc[0]-1]) || loc[1] < len(s) && isWord(s[loc[1]]) {
				continue
			}
			n := 0
			for i := loc[0]; i < loc[1]; i++ {
				if isDigit(s[i]) {
					n++
				}
			}
			if n >= 8 && n <= 15 {
				ms = append(ms, Match{Kind: Phone, Detector: "phone", Start: loc[0], End: loc[1]})
			}
		}
	}
	if strings.ContainsAny(s, "-.") {
		for _, loc := range nanpPhoneRE.FindAllStringIndex(s, -1) {
			if loc[0] > 0 && (isDigit(s[loc[0]-1]) || s[loc[0]-1] == '.' || s[loc[0]-1] == '-') ||
				loc[1] < len(s) && (s[loc[1]] == '.' || s[loc[1]] == '-') && loc[1]+1 < len(s) && isDigit(s[loc[1]+1]) {
				continue
			}
			ms = append(ms, Match{Kind: Phone, Detector: "phone", Start: loc[0], End: loc[1]})
		}
	}
	return ms
}

// IBANs: a country code, two check digits and the account number, written
// together or in groups of four separated by single spaces, with the length
// registered for that country and a valid mod-97 checksum. Only the
// upper-case form is recognised.
var ibanStartRE = regexp.MustCompile(`\b[A-Z]{2}\d{2} ?[A-Z0-9]`)

func findIBANs(s string, ms []Match) []Match {
	for _, loc := range ibanStartRE.FindAllStringIndex(s, -1) {
		start := loc[0]
		want, ok := ibanLength[s[start:start+2]]
		if !ok {
			continue
		}
		// Take want alphanumerics, allowing a single space between groups.
		buf := make([]byte, 0, want)
		i := start
		for i < len(s) && len(buf) < want {
			c := s[i]
			switch {
			case isDigit(c) || 'A' <= c && c <= 'Z':
				buf = append(buf, c)
				i++
			case c == ' ' && i+1 < len(s) && s[i+1] != ' ' && len(buf) > 0:
				i++
			default:
				i = len(s) + 1 // stop
			}
		}
		if len(buf) != want || i > len(s) || i < len(s) && isWord(s[i]) {
			continue
		}
		if ibanChecksum(buf) {
			ms = append(ms, Match{Kind: IBAN, Detector: "iban", Start: start, End: i})
		}
	}
	return ms
}

// ibanChecksum reports whether the IBAN (upper-case, no spaces) passes the
// ISO 13616 mod-97 check.
func ibanChecksum(iban []byte) bool {
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		}
	}
	for _, c := range iban[4:] {
		add(c)
	}
	for _, c := range iban[:4] {
		add(c)
	}
	return rem == 1
}

// ibanLength is the IBAN length of each country in the SWIFT IBAN registry.
var ibanLength = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	"YE": 30,
}

// IPv4 addresses are dotted quads with octets 0-255 and no leading zeros.
// A quad standing alone, such as the version-like "1.2.3.4" in a sentence,
// is reported: text cannot tell it from an address, a false positive costs
// a redacted version string, and a false negative an address in the audit
// log. A quad with a "v" in front ("v1.2.3.4") or inside a longer dotted
// sequence ("1.2.3.4.5") is not an address.
var (
	ipv4RE = regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`)
	ipv6RE = regexp.MustCompile(`[0-9A-Fa-f]*(?::[0-9A-Fa-f]*){2,}(?:\.\d+){0,3}`)
)

func findIPs(s string, ms []Match) []Match {
	if strings.IndexByte(s, '.') >= 0 {
		for _, loc := range ipv4RE.FindAllStringIndex(s, -1) {
			if loc[0] > 0 && (s[loc[0]-1] == '.' || s[loc[0]-1] == 'v' || s[loc[0]-1] == 'V') ||
				loc[1]+1 < len(s) && s[loc[1]] == '.' && isDigit(s[loc[1]+1]) {
				continue
			}
			ms = append(ms, Match{Kind: IP, Detector: "ipv4", Start: loc[0], End: loc[1]})
		}
	}
	// IPv6: a run of hex digits and colons with at least two colons that
	// net/netip accepts, not glued to a word ("std::map" is not an address).
	if strings.Count(s, ":") >= 2 {
		for _, loc := range ipv6RE.FindAllStringIndex(s, -1) {
			v := s[loc[0]:loc[1]]
			if strings.HasSuffix(v, ":") && !strings.HasSuffix(v, "::") {
				v = v[:len(v)-1] // "at fe80::1: …"
			}
			end := loc[0] + len(v)
			if loc[0] > 0 && isWord(s[loc[0]-1]) || end < len(s) && isWord(s[end]) {
				continue
			}
			if !strings.ContainsAny(v, "0123456789abcdefABCDEF") {
				continue
			}
			if a, err := netip.ParseAddr(v); err == nil && a.Is6() {
				ms = append(ms, Match{Kind: IP, Detector: "ipv6", Start: loc[0], End: end})
			}
		}
	}
	return ms
}
