package policy_test

import (
	"testing"

	"github.com/vargate/vargate/internal/policy"
)

func TestModulesDigest(t *testing.T) {
	tests := []struct {
		name    string
		modules map[string]string
		want    string
	}{
		// printf 'package vargate.tenant\n' > a.rego; printf 'x < 1\n' > b.rego
		// LC_ALL=C sha256sum *.rego | sha256sum
		{"two modules", map[string]string{"b.rego": "x < 1\n", "a.rego": "package vargate.tenant\n"},
			"sha256:77cf318d14630472f1fe3ff9c716fffef4aad407ffbbb5d1346e431e222ee249"},
		// printf '' | sha256sum
		{"no modules", map[string]string{}, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.ModulesDigest(tt.modules); got != tt.want {
				t.Errorf("ModulesDigest = %s, want %s", got, tt.want)
			}
		})
	}
}
