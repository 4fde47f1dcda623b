# Helpers and rules may live in packages below vargate.tenant.
package vargate.tenant.email

internal_domain := "@example.com"

deny contains sprintf("external_recipient: %s is outside %s", [r, internal_domain]) if {
	input.call.tool == "vargate_send_email"
	some r in input.call.arguments.to
	not endswith(r, internal_domain)
}
