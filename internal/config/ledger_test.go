package config

import (
	"strings"
	"testing"
)

func TestLedgerKeys(t *testing.T) {
	base := `{"clientId": "op_x", "nodes": [{"alias": "a", "inferenceUri": "http://127.0.0.1:11434", "apiMode": "ollama", "region": "global", "capacity": 1}]`
	cfg, warnings, err := Parse([]byte(base + `, "ledgerOff": true, "ledgerRetentionDays": 30, "ledgerMaxMB": 10}`))
	if err != nil || len(warnings) != 0 || !cfg.LedgerOff || cfg.LedgerRetentionDays != 30 || cfg.LedgerMaxMB != 10 {
		t.Fatalf("ledger keys: %+v %v %v", cfg, warnings, err)
	}
	for _, tc := range []struct{ keys, want string }{
		{`"ledgerRetentionDays": -1`, "ledgerRetentionDays: -1 is out of range; use a number of days from 1 to 36500, or leave it out for 90"},
		{`"ledgerMaxMB": -5`, "ledgerMaxMB: -5 is out of range; use a size in MiB from 1 to 1048576, or leave it out for 100"},
	} {
		_, _, err := Parse([]byte(base + `, ` + tc.keys + `}`))
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want %q", tc.keys, err, tc.want)
		}
	}
}
