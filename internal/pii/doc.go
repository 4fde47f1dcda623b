// Package pii finds personal data and secrets in tool-call arguments and
// redacts them.
//
// It owns the detectors (e-mail addresses, phone numbers, payment card
// numbers, US social security numbers, IBANs, IP addresses and secrets such
// as API keys, private keys and JWTs) and the two operations built on them:
// Scan reports what was found and where (kind, detector and JSON path, never
// the value), and Redact replaces every match with "[REDACTED:kind]".
//
// Findings are evidence for policy rules, not a verdict: the policy package
// decides what a finding means for a given tool, field and risk level.
//
// What counts as a match, and the false positives we accept, are documented
// on each detector in detect.go and in docs/POLICY.md. The package is pure
// computation: it imports nothing from this module and does no I/O.
package pii
