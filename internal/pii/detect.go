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
//
// Every detector runs in time linear in len(s): they look for anchors (a
// digit after a non-digit, an "@", a known secret prefix) and examine the
// text around each, instead of running unanchored regular expressions over
// the whole string.
func Find(s string) []Match {
	var ms []Match
	ms = findSecrets(s, ms)
	if strings.ContainsAny(s, "0123456789") {
		ms = findCards(s, ms)
		ms = findAtDigitRuns(s, ms)
		if strings.IndexByte(s, '+') >= 0 {
			ms = findIntlPhones(s, ms)
		}
	}
	if strings.IndexByte(s, '@') >= 0 {
		ms = findEmails(s, ms)
	}
	if strings.Count(s, ":") >= 2 {
		ms = findIPv6(s, ms)
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

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || isUpper(c) }

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

func isWord(c byte) bool { return isAlnum(c) || c == '_' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// digits reports whether s[i:i+n] is n ASCII digits.
func digits(s string, i, n int) bool {
	if i < 0 || i+n > len(s) {
		return false
	}
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// at returns s[i], or 0 outside s.
func at(s string, i int) byte {
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

// secretRule is one secret detector: an expression anchored at the start
// of the secret, tried only where findSecrets sees its prefix.
type secretRule struct {
	detector string
	re       *regexp.Regexp
	word     bool // must not follow a letter, digit or underscore
}

// Secrets are recognised by the fixed prefixes their issuers give them.
// A high-entropy string without such a prefix (an AWS secret access key on
// its own, a random password) is not detected: that would flag every hash
// and UUID in arguments.
var (
	anthropicKey = secretRule{"anthropic_api_key", regexp.MustCompile(`^sk-ant-[A-Za-z0-9_\-]{20,}`), true}
	openAIKey    = secretRule{"openai_api_key", regexp.MustCompile(`^sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}`), true}
	awsKey       = secretRule{"aws_access_key", regexp.MustCompile(`^(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b`), true}
	githubToken  = secretRule{"github_token", regexp.MustCompile(`^gh[pousr]_[A-Za-z0-9]{36,255}\b`), true}
	githubPAT    = secretRule{"github_token", regexp.MustCompile(`^github_pat_[A-Za-z0-9_]{22,255}\b`), true}
	slackToken   = secretRule{"slack_token", regexp.MustCompile(`^xox[abposr]-[A-Za-z0-9\-]{10,}`), true}
	stripeKey    = secretRule{"stripe_key", regexp.MustCompile(`^(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}`), true}
	googleKey    = secretRule{"google_api_key", regexp.MustCompile(`^AIza[0-9A-Za-z_\-]{35}`), true}
	// A JWT is three base64url parts, the first two JSON objects ("eyJ" is
	// base64 for `{"`). The signature may be empty (alg "none").
	jwtToken = secretRule{"jwt", regexp.MustCompile(`^eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*`), true}
	// A private key block runs to its END line, or to the end of the string
	// when the block was cut off.
	privateKey = secretRule{"private_key", regexp.MustCompile(`^-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\z)`), false}
)

// secretRulesAt returns the rules whose prefix starts at s[i], most
// specific first.
func secretRulesAt(s string, i int) []*secretRule {
	has := func(p string) bool { return strings.HasPrefix(s[i:], p) }
	switch s[i] {
	case 's':
		if has("sk-ant-") {
			return []*secretRule{&anthropicKey, &openAIKey}
		}
		if has("sk-") {
			return []*secretRule{&openAIKey}
		}
		if has("sk_") {
			return []*secretRule{&stripeKey}
		}
	case 'r':
		if has("rk_") {
			return []*secretRule{&stripeKey}
		}
	case 'A':
		if has("AKIA") || has("ASIA") || has("ABIA") || has("ACCA") {
			return []*secretRule{&awsKey}
		}
		if has("AIza") {
			return []*secretRule{&googleKey}
		}
	case 'g':
		if has("github_pat_") {
			return []*secretRule{&githubPAT}
		}
		if at(s, i+1) == 'h' && at(s, i+3) == '_' && strings.IndexByte("pousr", at(s, i+2)) >= 0 {
			return []*secretRule{&githubToken}
		}
	case 'x':
		if has("xox") {
			return []*secretRule{&slackToken}
		}
	case 'e':
		if has("eyJ") {
			return []*secretRule{&jwtToken}
		}
	case '-':
		if has("-----BEGIN") {
			return []*secretRule{&privateKey}
		}
	}
	return nil
}

func findSecrets(s string, ms []Match) []Match {
	for i := 0; i < len(s); i++ {
		for _, r := range secretRulesAt(s, i) {
			if r.word && i > 0 && isWord(s[i-1]) {
				break
			}
			if loc := r.re.FindStringIndex(s[i:]); loc != nil {
				ms = append(ms, Match{Kind: Secret, Detector: r.detector, Start: i, End: i + loc[1]})
				i += loc[1] - 1
				break
			}
		}
	}
	return ms
}

// E-mail addresses: a local part, "@", and a domain of at least two labels
// whose last (the top-level domain) is two or more letters. "user@localhost"
// is not matched; "git@github.com" is.
func findEmails(s string, ms []Match) []Match {
	next := 0 // an address never starts inside the previous one
	for i := strings.IndexByte(s, '@'); i >= 0; {
		start := i
		for start > next && isEmailLocal(s[start-1]) {
			start--
		}
		if end := emailDomainEnd(s, i+1); start < i && end > 0 {
			ms = append(ms, Match{Kind: Email, Detector: "email", Start: start, End: end})
			next = end
		}
		j := strings.IndexByte(s[i+1:], '@')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ms
}

func isEmailLocal(c byte) bool { return isAlnum(c) || strings.IndexByte("._%+-", c) >= 0 }

// emailDomainEnd returns where the longest valid domain starting at s[i]
// ends, or -1. Labels are letters, digits and inner dashes, separated by
// single dots.
func emailDomainEnd(s string, i int) int {
	best, labels := -1, 0
	for {
		j := i
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-') {
			j++
		}
		end := j
		for end > i && s[end-1] == '-' {
			end--
		}
		if end == i || s[i] == '-' {
			return best
		}
		labels++
		tld := end-i >= 2
		for k := i; k < end && tld; k++ {
			tld = isAlpha(s[k])
		}
		if labels >= 2 && tld && !isWord(at(s, end)) {
			best = end
		}
		if end != j || at(s, j) != '.' {
			return best
		}
		i = j + 1
	}
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

// findAtDigitRuns looks for SSNs, North American phone numbers, IPv4
// addresses and IBANs where a run of digits starts.
func findAtDigitRuns(s string, ms []Match) []Match {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i > 0 && isDigit(s[i-1]) {
			continue
		}
		if m, ok := ssnAt(s, i); ok {
			ms = append(ms, m)
		}
		if m, ok := nanpPhoneAt(s, i); ok {
			ms = append(ms, m)
		}
		if m, ok := ipv4At(s, i); ok {
			ms = append(ms, m)
		}
		if m, ok := ibanAt(s, i-2); ok {
			ms = append(ms, m)
		}
	}
	return ms
}

// US social security numbers: ddd-dd-dddd with the dashes (nine digits on
// their own are too common to call an SSN), not inside a longer dashed
// number, and excluding numbers the SSA never issues: area 000, 666 or
// 900-999, group 00, serial 0000.
func ssnAt(s string, i int) (Match, bool) {
	if !digits(s, i, 3) || at(s, i+3) != '-' || !digits(s, i+4, 2) || at(s, i+6) != '-' || !digits(s, i+7, 4) {
		return Match{}, false
	}
	if p := at(s, i-1); isWord(p) || p == '-' {
		return Match{}, false
	}
	if n := at(s, i+11); isWord(n) || n == '-' {
		return Match{}, false
	}
	area, group, serial := s[i:i+3], s[i+4:i+6], s[i+7:i+11]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return Match{}, false
	}
	return Match{Kind: SSN, Detector: "ssn", Start: i, End: i + 11}, true
}

// Phone numbers in two notations: international, a "+" and 8 to 15 digits
// with optional spaces, dots, dashes or a parenthesised group; and North
// American, "(234) 567-8901", "234-567-8901" or "234.567.8901". A bare run
// of digits is not a phone number (order IDs and timestamps look the same).
var intlPhoneRE = regexp.MustCompile(`\+[1-9](?:[ .\-]?(?:\(\d{1,4}\)|\d)){6,18}`)

func findIntlPhones(s string, ms []Match) []Match {
	for _, loc := range intlPhoneRE.FindAllStringIndex(s, -1) {
		if isWord(at(s, loc[0]-1)) || isWord(at(s, loc[1])) {
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
	return ms
}

func nanpPhoneAt(s string, i int) (Match, bool) {
	if !digits(s, i, 3) || s[i] < '2' {
		return Match{}, false
	}
	start, j := i, i+3
	if at(s, i-1) == '(' && at(s, j) == ')' {
		start, j = i-1, j+1
		if at(s, j) == ' ' {
			j++
		}
	} else if c := at(s, j); c == '-' || c == '.' {
		j++
	} else {
		return Match{}, false
	}
	if !digits(s, j, 3) || (at(s, j+3) != '-' && at(s, j+3) != '.') || !digits(s, j+4, 4) {
		return Match{}, false
	}
	end := j + 8
	if p := at(s, start-1); isWord(p) || p == '.' || p == '-' {
		return Match{}, false
	}
	if n := at(s, end); isWord(n) || (n == '.' || n == '-') && isDigit(at(s, end+1)) {
		return Match{}, false
	}
	return Match{Kind: Phone, Detector: "phone", Start: start, End: end}, true
}

// IPv4 addresses are dotted quads with octets 0-255 and no leading zeros.
// A quad standing alone, such as the version-like "1.2.3.4" in a sentence,
// is reported: text cannot tell it from an address, a false positive costs
// a redacted version string, and a false negative an address in the audit
// log. A quad with a "v" in front ("v1.2.3.4") or inside a longer dotted
// sequence ("1.2.3.4.5") is not an address.
func ipv4At(s string, i int) (Match, bool) {
	if p := at(s, i-1); isWord(p) || p == '.' {
		return Match{}, false
	}
	j := i
	for octet := 0; octet < 4; octet++ {
		if octet > 0 {
			if at(s, j) != '.' {
				return Match{}, false
			}
			j++
		}
		k := j
		for k < len(s) && isDigit(s[k]) && k-j < 4 {
			k++
		}
		n := k - j
		if n == 0 || n > 3 || n > 1 && s[j] == '0' || n == 3 && s[j:k] > "255" {
			return Match{}, false
		}
		j = k
	}
	if n := at(s, j); isWord(n) || n == '.' && isDigit(at(s, j+1)) {
		return Match{}, false
	}
	return Match{Kind: IP, Detector: "ipv4", Start: i, End: j}, true
}

// IPv6 addresses: a run of hex digits, colons (at least two) and dots
// that net/netip accepts, not glued to a word ("std::map" is not an
// address; clock times and MAC addresses do not parse).
func findIPv6(s string, ms []Match) []Match {
	for i := 0; i < len(s); {
		if !isHex(s[i]) && s[i] != ':' {
			i++
			continue
		}
		j := i
		for j < len(s) && (isHex(s[j]) || s[j] == ':' || s[j] == '.') {
			j++
		}
		v := strings.TrimRight(s[i:j], ".")
		if strings.HasSuffix(v, ":") && !strings.HasSuffix(v, "::") {
			v = v[:len(v)-1] // "at fe80::1: …"
		}
		end := i + len(v)
		if strings.Count(v, ":") >= 2 && !isWord(at(s, i-1)) && !isWord(at(s, end)) {
			if a, err := netip.ParseAddr(v); err == nil && a.Is6() {
				ms = append(ms, Match{Kind: IP, Detector: "ipv6", Start: i, End: end})
			}
		}
		i = j
	}
	return ms
}

// IBANs: a country code, two check digits and the account number, written
// together or in groups of four separated by single spaces, with the length
// registered for that country and a valid mod-97 checksum. Only the
// upper-case form is recognised.
func ibanAt(s string, start int) (Match, bool) {
	if start < 0 || !isUpper(s[start]) || !isUpper(s[start+1]) || !digits(s, start+2, 2) || isWord(at(s, start-1)) {
		return Match{}, false
	}
	want, ok := ibanLength[s[start:start+2]]
	if !ok {
		return Match{}, false
	}
	// Take want letters and digits, allowing a single space between groups.
	buf := make([]byte, 0, want)
	i := start
	for i < len(s) && len(buf) < want {
		c := s[i]
		if isDigit(c) || isUpper(c) {
			buf = append(buf, c)
			i++
		} else if c == ' ' && at(s, i+1) != ' ' && len(buf) > 0 {
			i++
		} else {
			break
		}
	}
	if len(buf) != want || isWord(at(s, i)) || !ibanChecksum(buf) {
		return Match{}, false
	}
	return Match{Kind: IBAN, Detector: "iban", Start: start, End: i}, true
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
