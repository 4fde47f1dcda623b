# Sample tenant policy, version "v1": rules a finance team might add.
package vargate.tenant

# Charges above the limit need a person to look at them.
charge_limit := 5000

require_approval contains sprintf("large_amount: charge of %v is above %v", [amount, charge_limit]) if {
	input.call.tool == "vargate_create_charge"
	amount := input.call.arguments.amount
	amount > charge_limit
}

# E-mail only goes out during business hours (08:00-18:00 UTC).
deny contains sprintf("outside_business_hours: e-mail is not sent at %02d:%02d UTC", [hour, minute]) if {
	input.call.tool == "vargate_send_email"
	[hour, minute, _] := time.clock(time.parse_rfc3339_ns(input.time))
	not business_hours(hour)
}

business_hours(hour) if {
	hour >= 8
	hour < 18
}
