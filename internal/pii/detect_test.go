package pii_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vargate/vargate/internal/pii"
)

// found is a match reduced to what the tests compare: "kind/detector:text".
func found(s string) []string {
	var out []string
	for _, m := range pii.Find(s) {
		out = append(out, fmt.Sprintf("%s/%s:%s", m.Kind, m.Detector, s[m.Start:m.End]))
	}
	return out
}

func TestFind(t *testing.T) {
	// Fake credentials, assembled so that no scanner mistakes this file
	// for a leak.
	anthropic := "sk-" + "ant-api03-" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
	aws := "AKIA" + "IOSFODNN7EXAMPLE"
	ghp := "ghp_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
	jwt := "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	pem := "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA " + "PRIVATE KEY-----"

	tests := []struct {
		name string
		in   string
		want []string
	}{
		// E-mail
		{"email", "write to ada@example.com today", []string{"email/email:ada@example.com"}},
		{"email plus tag", "Ada.Lovelace+news@mail.example.co.uk", []string{"email/email:Ada.Lovelace+news@mail.example.co.uk"}},
		{"no tld is not email", "user@localhost", nil},
		{"handle is not email", "ping @ada on slack", nil},
		{"email ending a sentence", "Write to ada@example.com.", []string{"email/email:ada@example.com"}},
		{"email with dashed domain", "<ops@eu-west.example.org>", []string{"email/email:ops@eu-west.example.org"}},
		{"digit tld is not email", "ada@example.c0m", nil},
		{"two emails", "a@example.com,b@example.org", []string{"email/email:a@example.com", "email/email:b@example.org"}},

		// Cards
		{"visa", "card 4111111111111111 exp 12/29", []string{"card/card:4111111111111111"}},
		{"visa grouped", "4111 1111 1111 1111", []string{"card/card:4111 1111 1111 1111"}},
		{"mastercard dashed", "5500-0000-0000-0004", []string{"card/card:5500-0000-0000-0004"}},
		{"amex", "378282246310005", []string{"card/card:378282246310005"}},
		{"card next to other number", "ref 12 4111111111111111", []string{"card/card:4111111111111111"}},
		{"16 digits failing luhn", "4111111111111112", nil},
		{"luhn valid unknown prefix", "1234567812345670", nil},
		{"card inside longer digits", "41111111111111110", nil},
		{"card glued to letters", "id4111111111111111", nil},
		{"card in decimal fraction", "0.4111111111111111", nil},

		// SSN
		{"ssn", "SSN: 219-09-9999.", []string{"ssn/ssn:219-09-9999"}},
		{"ssn area 000", "000-12-3456", nil},
		{"ssn area 666", "666-12-3456", nil},
		{"ssn area 9xx", "912-12-3456", nil},
		{"ssn group 00", "219-00-9999", nil},
		{"ssn nine bare digits", "219099999", nil},
		{"ssn inside longer dashed number", "1-219-09-9999-7", nil},

		// IBAN
		{"iban", "IBAN DE89370400440532013000 ok", []string{"iban/iban:DE89370400440532013000"}},
		{"iban grouped", "GB82 WEST 1234 5698 7654 32", []string{"iban/iban:GB82 WEST 1234 5698 7654 32"}},
		{"iban grouped then word", "pay GB82 WEST 1234 5698 7654 32 NOW", []string{"iban/iban:GB82 WEST 1234 5698 7654 32"}},
		{"iban bad checksum", "DE89370400440532013001", nil},
		{"iban wrong length", "DE8937040044053201300", nil},
		{"iban unknown country", "ZZ89370400440532013000", nil},

		// Phone
		{"phone e164", "call +14155552671 now", []string{"phone/phone:+14155552671"}},
		{"phone intl spaced", "+44 20 7946 0958", []string{"phone/phone:+44 20 7946 0958"}},
		{"phone nanp dashed", "555-123-4567", []string{"phone/phone:555-123-4567"}},
		{"phone nanp parens", "(415) 555-2671", []string{"phone/phone:(415) 555-2671"}},
		{"phone nanp parens no space", "tel:(415)555-2671", []string{"phone/phone:(415)555-2671"}},
		{"phone nanp dotted", "call 415.555.2671.", []string{"phone/phone:415.555.2671"}},
		{"nanp area code starting with 1", "155-123-4567", nil},
		{"phone too short", "+1234", nil},
		{"bare digit run is not phone", "order 4155552671", nil},
		{"date is not phone", "2026-04-11", nil},

		// IP
		{"ipv4", "host 10.0.0.12 down", []string{"ip/ipv4:10.0.0.12"}},
		{"ipv4 with port and cidr", "10.0.0.1:8080 and 192.168.0.0/16", []string{"ip/ipv4:10.0.0.1", "ip/ipv4:192.168.0.0"}},
		{"ipv4 octet 256", "10.0.0.256", nil},
		{"ipv4 version-like alone is reported", "upgrade to 1.2.3.4 soon", []string{"ip/ipv4:1.2.3.4"}},
		{"v-prefixed version is not ip", "release v1.2.3.4", nil},
		{"five-part version is not ip", "build 1.2.3.4.5", nil},
		{"octet out of range", "300.1.1.1", nil},
		{"leading zero", "01.2.3.4", nil},
		{"ipv6", "bind [2001:db8::1]:443", []string{"ip/ipv6:2001:db8::1"}},
		{"ipv6 loopback", "::1", []string{"ip/ipv6:::1"}},
		{"clock time is not ipv6", "at 12:30:45", nil},
		{"mac is not ipv6", "00:1a:2b:3c:4d:5e", nil},
		{"scope operator is not ipv6", "std::map", nil},

		// Secrets
		{"anthropic key", "key=" + anthropic, []string{"secret/anthropic_api_key:" + anthropic}},
		{"aws access key", "AWS " + aws + " x", []string{"secret/aws_access_key:" + aws}},
		{"github token", ghp, []string{"secret/github_token:" + ghp}},
		{"jwt", "Bearer " + jwt, []string{"secret/jwt:" + jwt}},
		{"private key", "k: " + pem + " end", []string{"secret/private_key:" + pem}},
		{"private key cut off", "-----BEGIN " + "PRIVATE KEY-----\nMIIE", []string{"secret/private_key:-----BEGIN " + "PRIVATE KEY-----\nMIIE"}},
		{"sk- inside a word is not a key", "task-0123456789abcdefghijklmnop", nil},
		{"short sk- is not a key", "sk-ant-...", nil},
		{"aws-like lower case", "akiaiosfodnn7example", nil},

		// Several in one string, ordered by position.
		{"mixed", "ada@example.com paid with 4111111111111111 from 10.0.0.1", []string{
			"email/email:ada@example.com", "card/card:4111111111111111", "ip/ipv4:10.0.0.1",
		}},
		{"nothing", "The quick brown fox jumps over 13 lazy dogs.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, found(tt.in)); diff != "" {
				t.Errorf("Find(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// An overlap between detectors keeps the most sensitive kind: the digits of
// a JWT or an API key are never reported as a card or a phone number.
func TestFindOverlapKeepsMostSensitive(t *testing.T) {
	key := "sk-" + "proj-4111111111111111-abcdefghijkl"
	got := found(key)
	want := []string{"secret/openai_api_key:" + key}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
