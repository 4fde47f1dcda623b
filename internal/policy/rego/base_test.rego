# Tests of the base policy that the golden corpus does not cover well. Not
# part of the embedded policy (files ending in _test.rego are skipped);
# TestBaseRegoTests runs them.
package vargate.base_test

import data.vargate.base

anomaly_input(level, score) := {
	"agent": {
		"allowed_tools": ["t"],
		"governance_profile": {"risk_level": level, "pii_detection": true},
		"delegation": {"depth": 0, "max_depth": 0},
	},
	"session": {"anomaly_score": score},
	"call": {"tool": "t", "arguments": {}},
	"pii": [],
}

has_anomaly_reason(reasons) if {
	some r in reasons
	startswith(r, "anomaly_score:")
}

# The anomaly rules test a constant lower bound before looking the
# threshold up; every threshold in the tables must still take effect.
test_every_anomaly_deny_threshold_applies if {
	every level, t in base.anomaly_deny_at {
		has_anomaly_reason(base.deny) with input as anomaly_input(level, t)
		not has_anomaly_reason(base.deny) with input as anomaly_input(level, t - 0.01)
	}
}

test_every_anomaly_approval_threshold_applies if {
	every level, t in base.anomaly_approval_at {
		has_anomaly_reason(base.require_approval) with input as anomaly_input(level, t)
		not has_anomaly_reason(base.require_approval) with input as anomaly_input(level, t - 0.01)
	}
}

test_missing_tool_denied if {
	"invalid_input: call.tool is missing" in base.deny with input as {"agent": {"allowed_tools": []}, "pii": []}
}

test_missing_profile_is_standard_with_detection if {
	base.risk == "standard" with input as {"agent": {}}
	base.pii_detection with input as {"agent": {}}
}

test_unknown_risk_level_is_strict if {
	base.risk == "strict" with input as {"agent": {"governance_profile": {"risk_level": "yolo"}}}
}

test_pii_findings_skip_expected_and_secrets if {
	findings := base.pii_findings with input as {
		"agent": {"governance_profile": {"pii_detection": true}},
		"call": {"tool": "vargate_send_email"},
		"pii": [
			{"kind": "email", "detector": "email", "path": "$.to[0]", "field": "to"},
			{"kind": "email", "detector": "email", "path": "$.body", "field": "body"},
			{"kind": "secret", "detector": "jwt", "path": "$.body", "field": "body"},
		],
	}
	findings == {{"kind": "email", "detector": "email", "path": "$.body", "field": "body"}}
}

finding_input(level, tool, kind) := {
	"agent": {
		"allowed_tools": [tool],
		"governance_profile": {"risk_level": level, "pii_detection": true},
		"delegation": {"depth": 0, "max_depth": 0},
	},
	"session": {"anomaly_score": 0},
	"call": {"tool": tool, "arguments": {}},
	"pii": [{"kind": kind, "detector": kind, "path": "$.q", "field": "q"}],
}

# The rules inline the kind sets; every kind in the named sets must take
# effect, and no other.
test_sensitive_kinds_need_approval if {
	every kind in base.sensitive_kinds {
		sprintf("sensitive_data: argument $.q contains %s data (standard)", [kind]) in base.require_approval with input as finding_input("standard", "db", kind)
		sprintf("sensitive_data_in_search: argument $.q of a search tool contains %s data", [kind]) in base.deny with input as finding_input("standard", "web_search", kind)
	}
	every kind in base.personal_kinds {
		count(base.require_approval) == 0 with input as finding_input("standard", "db", kind)
		count(base.deny) == 0 with input as finding_input("standard", "web_search", kind)
	}
}

test_personal_kinds_need_approval_when_strict if {
	every kind in base.personal_kinds {
		sprintf("personal_data: argument $.q contains %s data (strict)", [kind]) in base.require_approval with input as finding_input("strict", "db", kind)
	}
	every kind in base.sensitive_kinds {
		not sprintf("personal_data: argument $.q contains %s data (strict)", [kind]) in base.require_approval with input as finding_input("strict", "db", kind)
	}
}
