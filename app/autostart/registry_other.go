//go:build !windows

package autostart

import "errors"

// registryRun stands in for the Windows registry on other systems: every call fails.
type registryRun struct{}

var errNoRegistry = errors.New("the Windows registry exists only on Windows")

func (registryRun) Get(string) (string, bool, error) { return "", false, errNoRegistry }
func (registryRun) Set(string, string) error         { return errNoRegistry }
func (registryRun) Delete(string) error              { return errNoRegistry }
