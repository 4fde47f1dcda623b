package vargate.tenant.tests

import data.vargate.base

charge(amount) := {
	"agent": {"allowed_tools": ["vargate_create_charge"], "governance_profile": {"risk_level": "standard", "pii_detection": true}},
	"call": {"tool": "vargate_create_charge", "arguments": {"amount": amount}},
	"pii": [],
	"time": "2026-04-11T10:00:00Z",
}

test_small_charge_allowed if {
	r := base.result with input as charge(100)
	count(r.deny) == 0
	count(r.require_approval) == 0
}

test_large_charge_needs_approval if {
	r := base.result with input as charge(9000)
	"large_amount: charge of 9000 is above 5000" in r.require_approval
}

test_external_recipient_denied if {
	r := base.result with input as {
		"agent": {"allowed_tools": ["vargate_send_email"]},
		"call": {"tool": "vargate_send_email", "arguments": {"to": ["eve@evil.test"]}},
		"pii": [],
		"time": "2026-04-11T10:00:00Z",
	}
	"external_recipient: eve@evil.test is outside @example.com" in r.deny
}
