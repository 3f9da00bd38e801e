package config

// Defaults of the job ledger's keys (internal/ledger has the same).
const (
	DefaultLedgerRetentionDays = 90
	DefaultLedgerMaxMB         = 100
)

// checkLedger validates ledgerRetentionDays and ledgerMaxMB (0 means the default).
func (c *Config) checkLedger() error {
	if c.LedgerRetentionDays < 0 || c.LedgerRetentionDays > 36500 {
		return fieldErr("ledgerRetentionDays", "%d is out of range; use a number of days from 1 to 36500, or leave it out for %d", c.LedgerRetentionDays, DefaultLedgerRetentionDays)
	}
	if c.LedgerMaxMB < 0 || c.LedgerMaxMB > 1<<20 {
		return fieldErr("ledgerMaxMB", "%d is out of range; use a size in MiB from 1 to 1048576, or leave it out for %d", c.LedgerMaxMB, DefaultLedgerMaxMB)
	}
	return nil
}
