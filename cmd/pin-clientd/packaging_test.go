package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/internal/secret"
	"github.com/zalando/go-keyring"
)

var updatePackaging = flag.Bool("update-packaging", false, "rewrite packaging/pin-clientd.service")

// packagedUnit is the system unit the .deb and .rpm install in /lib/systemd/system.
const packagedUnit = "../../packaging/pin-clientd.service"

// TestPackagedUnit keeps the packaged system unit equal to what `pin-clientd service
// install -c /etc/pin-client/config.json` writes for the packaged binary
// /usr/bin/pin-clientd with the default -n and --grace: the package ships the same unit
// the installer writes, only with the package's fixed paths. (The config is made in a
// temporary folder, whose path is then replaced by /etc/pin-client.)
func TestPackagedUnit(t *testing.T) {
	f, cfg, _ := serviceEnv(t)
	executable = func() (string, error) { return "/usr/bin/pin-clientd", nil } // serviceEnv restores it
	keyring.Set(secret.KeyringService, "op_cmdtest", testSecret)
	if err := runService(context.Background(), []string{"install", "-c", cfg}, f.io()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(systemRoot, "etc", "systemd", "system", "pin-clientd.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(data), filepath.Dir(cfg), "/etc/pin-client")
	if *updatePackaging {
		if err := os.WriteFile(packagedUnit, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(packagedUnit)
	if err != nil {
		t.Fatalf("%v (run go test -run TestPackagedUnit ./cmd/pin-clientd -args -update-packaging to create it)", err)
	}
	if unit != string(want) {
		t.Errorf("packaging/pin-clientd.service differs from what service install writes; run go test -run TestPackagedUnit ./cmd/pin-clientd -args -update-packaging\n--- service install writes\n%s\n--- packaging/pin-clientd.service\n%s", unit, want)
	}
	for _, line := range []string{
		"ExecStart=/usr/bin/pin-clientd service run -n 1 --grace 10s -c %d/config.json\n",
		"LoadCredential=config.json:/etc/pin-client/config.json\n",
		"LoadCredential=pin-api-secret:/etc/pin-client/pin-clientd.secret\n",
		"Environment=PIN_CONFIG_SOURCE=/etc/pin-client/config.json\n",
		"DynamicUser=yes\n",
		"WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, line) {
			t.Errorf("the packaged unit lacks %q:\n%s", line, unit)
		}
	}
}
