# The Vargate base policy: the semantics of the agent configuration in the
# Managed Agents setup guide. Every tenant policy version is evaluated
# together with this module; tenant modules (package vargate.tenant and
# below) can only add deny and require_approval reasons to it.
#
# Reasons are strings "code: message". The input document is described in
# docs/POLICY.md.
package vargate.base

# risk is the effective governance_profile.risk_level: "standard" when the
# profile does not set one, "strict" when it names a level we don't know.
default risk := "strict"

risk := risk_levels[object.get(input, ["agent", "governance_profile", "risk_level"], "")]

risk_levels := {"": "standard", "strict": "strict", "standard": "standard", "permissive": "permissive"}

# pii_detection is on unless the profile turns it off explicitly. Secrets
# are acted on either way.
pii_detection if not input.agent.governance_profile.pii_detection == false

# Session anomaly scores (0 to 1) at which a call is denied or needs
# approval, per risk level. Permissive never denies on the score.
anomaly_deny_at := {"strict": 0.5, "standard": 0.8}

anomaly_approval_at := {"strict": 0.3, "standard": 0.5, "permissive": 0.9}

# Kinds of personal data that identify a person's money or identity. The
# rules below repeat this set (and personal_kinds) as literals, which
# evaluate faster than a rule reference; base_test.rego checks they agree.
sensitive_kinds := {"card", "iban", "ssn"}

# An e-mail tool needs recipients' addresses in these fields.
email_fields := {"to", "cc", "bcc", "from", "reply_to"}

# Tool names are matched as given: governed tools are named in lower case
# (vargate_send_email).
email_tool if contains(input.call.tool, "mail")

search_tool if contains(input.call.tool, "search")

# Kinds of personal data that identify or locate a person.
personal_kinds := {"email", "phone", "ip"}

# expected(f) holds for personal data the tool needs to do its job.
expected(f) if {
	f.kind == "email"
	f.field in email_fields
	email_tool
}

# pii_findings are the findings the profile asks the policy to act on:
# every kind but secrets (acted on at every level), minus the expected
# ones. The rules below test the same conditions inline, which is cheaper;
# the set is here for tenant rules.
pii_findings contains f if {
	pii_detection
	some f in input.pii
	f.kind != "secret"
	not expected(f)
}

# --- deny -----------------------------------------------------------------

deny contains "invalid_input: call.tool is missing" if not input.call.tool

deny contains sprintf("tool_not_allowed: tool %q is not in the agent's allowed_tools", [input.call.tool]) if {
	not tool_allowed
}

# tool_allowed holds when allowed_tools names the tool, exactly or by a
# glob pattern ("github__*"). Patterns have no delimiters (null): '*'
# matches any run of characters, '.' included, since upstream MCP tool
# names may contain dots ("github__repos.list").
tool_allowed if input.call.tool in input.agent.allowed_tools

tool_allowed if {
	some p in input.agent.allowed_tools
	regex.match(`[*?\[]`, p)
	glob.match(p, null, input.call.tool)
}

deny contains sprintf("delegation_too_deep: delegation depth %d exceeds max_delegation_depth %d", [d.depth, d.max_depth]) if {
	d := input.agent.delegation
	d.depth > d.max_depth
}

deny contains sprintf("secret_in_arguments: argument %s contains a secret (%s)", [f.path, f.detector]) if {
	some f in input.pii
	f.kind == "secret"
}

deny contains sprintf("sensitive_data_in_search: argument %s of a search tool contains %s data", [f.path, f.kind]) if {
	some f in input.pii
	f.kind in {"card", "iban", "ssn"}
	search_tool
	pii_detection
}

deny contains sprintf("anomaly_score: session anomaly score %v is at or above %v (%s)", [s, t, risk]) if {
	s := input.session.anomaly_score
	s >= 0.5 # the lowest deny threshold: most calls stop here (see base_test.rego)
	t := anomaly_deny_at[risk]
	s >= t
}

# --- require_approval -------------------------------------------------------

require_approval contains sprintf("human_approval_required: tool %q matches require_human_approval pattern %q", [input.call.tool, p]) if {
	some p in input.agent.require_human_approval
	glob.match(p, null, input.call.tool) # no delimiters, as tool_allowed
}

require_approval contains sprintf("sensitive_data: argument %s contains %s data (%s)", [f.path, f.kind, risk]) if {
	some f in input.pii
	f.kind in {"card", "iban", "ssn"}
	pii_detection
	risk != "permissive"
}

require_approval contains sprintf("personal_data: argument %s contains %s data (strict)", [f.path, f.kind]) if {
	some f in input.pii
	f.kind in {"email", "phone", "ip"}
	risk == "strict"
	pii_detection
	not expected(f)
}

require_approval contains sprintf("anomaly_score: session anomaly score %v is at or above %v (%s)", [s, t, risk]) if {
	s := input.session.anomaly_score
	s >= 0.3 # the lowest approval threshold: most calls stop here (see base_test.rego)
	t := anomaly_approval_at[risk]
	s >= t
}

# --- tenant rules and the result -----------------------------------------

# Tenant deny and require_approval rules join these sets through a module
# the compiler generates in this package, one rule per tenant package that
# defines them.

# result is the decision document. A call is denied if deny is not empty,
# needs approval if require_approval is not empty, and is allowed
# otherwise. (The gateway's engine reads the two sets directly, which
# costs less than building this object; tenant tests and the OPA sidecar
# read result.)
result := {"deny": deny, "require_approval": require_approval}
