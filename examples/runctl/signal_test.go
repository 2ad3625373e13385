package main

import "testing"

func TestSandboxFromEnvNeverFallsThroughToAWSOnATypo(t *testing.T) {
	for value, want := range map[string]bool{"": false, "0": false, "false": false, "no": false,
		"1": true, "true": true, "TRUE": true, "yes": true, "on": true, "ture": true} {
		t.Setenv("RUNCTL_SANDBOX", value)
		if got := sandboxFromEnv(); got != want {
			t.Errorf("RUNCTL_SANDBOX=%q: sandbox %v, want %v", value, got, want)
		}
	}
}
