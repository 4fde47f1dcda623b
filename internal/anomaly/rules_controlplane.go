package anomaly

// This file holds rules for cloud and cluster control planes beyond
// deletion: new identities and keys, administrator grants, audit trails
// switched off, secrets read from vaults, long-lived cluster tokens and
// plaintext credential helpers.

import (
	"strings"
)

// adminGrant reports whether text grants administrator rights.
func adminGrant(low string) bool {
	for _, k := range []string{"administratoraccess", `"action":"*"`, `"action": "*"`, "roles/owner", "roles/editor", "roles/iam.", "role owner",
		"--role owner", "user access administrator", "cluster-admin", "iamfullaccess"} {
		if strings.Contains(low, k) {
			return true
		}
	}
	return false
}

// externalMember reports a grantee outside any organisation (a consumer
// mail address).
func externalMember(low string) bool {
	for _, d := range []string{"@gmail.com", "@outlook.com", "@hotmail.com", "@yahoo.", "@proton", "@icloud.com", "allusers", "allauthenticatedusers"} {
		if strings.Contains(low, d) {
			return true
		}
	}
	return false
}

// ruleControlPlane judges aws, gcloud and az identity and logging calls.
func (s *scan) ruleControlPlane(c *call) {
	low := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	ev := c.evidence
	svc, op := c.arg(1), c.arg(2)
	switch c.name {
	case "aws":
		switch svc + " " + op {
		case "iam create-user", "iam create-login-profile", "iam update-login-profile", "iam add-user-to-group":
			sev := SeverityMedium
			if adminGrant(low) || strings.Contains(low, "admin") {
				sev = SeverityHigh
			}
			s.flag(CategoryPersistence, sev, ev, "creates an IAM user or console password")
		case "iam attach-user-policy", "iam put-user-policy", "iam attach-group-policy", "iam put-group-policy", "iam attach-role-policy", "iam put-role-policy":
			if adminGrant(low) {
				s.flag(CategoryPersistence, SeverityHigh, ev, "grants administrator rights in IAM")
			}
		case "iam update-assume-role-policy":
			s.flag(CategoryPersistence, SeverityMedium, ev, "changes who may assume an IAM role")
		case "cloudtrail stop-logging", "cloudtrail delete-trail", "guardduty delete-detector", "guardduty disassociate-from-master-account",
			"configservice stop-configuration-recorder", "configservice delete-configuration-recorder", "securityhub disable-security-hub",
			"ec2 delete-flow-logs", "cloudwatch delete-alarms":
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "switches off AWS auditing or threat detection ("+svc+" "+op+")")
		case "cloudtrail update-trail":
			if strings.Contains(low, "--no-include-global-service-events") || strings.Contains(low, "--no-is-multi-region-trail") {
				s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "narrows what CloudTrail records")
			}
		case "logs delete-log-group", "logs delete-log-stream":
			if strings.Contains(low, "cloudtrail") || strings.Contains(low, "audit") || strings.Contains(low, "vpc") || strings.Contains(low, "flow") || strings.Contains(low, "guardduty") {
				s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "deletes audit logs")
			}
		}
	case "gcloud":
		switch {
		case strings.Contains(low, "service-accounts keys create"):
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "creates a long-lived service-account key")
		case strings.Contains(low, "add-iam-policy-binding") && (adminGrant(low) || externalMember(low)):
			sev := SeverityMedium
			if adminGrant(low) && externalMember(low) || adminGrant(low) && strings.Contains(low, "owner") {
				sev = SeverityHigh
			}
			s.flag(CategoryPersistence, sev, ev, "grants broad rights in Google Cloud")
		case strings.Contains(low, "logging sinks delete") || strings.Contains(low, "logging logs delete"):
			s.flag(CategoryDefenseEvasion, SeverityMedium, ev, "deletes Google Cloud log sinks or logs")
		}
	case "az":
		switch {
		case strings.Contains(low, "credential reset") && (svc == "ad"):
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "resets an Azure service principal's credentials (and prints them)")
		case svc == "keyvault" && (op == "secret" && (c.arg(3) == "show" || c.arg(3) == "download") || op == "key" && c.arg(3) == "download"):
			s.flag(CategoryCredentialAccess, SeverityMedium, ev, "reads a secret from Azure Key Vault")
		case svc == "role" && op == "assignment" && c.arg(3) == "create" && (adminGrant(low) || externalMember(low)):
			s.flag(CategoryPersistence, SeverityHigh, ev, "grants broad rights in Azure")
		case svc == "monitor" && strings.Contains(low, "diagnostic-settings delete"):
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "deletes Azure diagnostic logging")
		}
	}
}

// ruleKubeToken judges minting service-account tokens.
func (s *scan) ruleKubeToken(c *call) {
	if c.arg(1) != "create" || c.arg(2) != "token" {
		return
	}
	sev := SeverityMedium
	low := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	if strings.Contains(low, "kube-system") || strings.Contains(low, "h") && strings.Contains(low, "--duration") && !strings.Contains(low, "--duration=1h") && !strings.Contains(low, "--duration 1h") {
		sev = SeverityHigh
	}
	s.printsSecret(c, sev, "mints a Kubernetes service-account token")
}
