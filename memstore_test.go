package oidcsession_test

import (
	"testing"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) oidcsession.Store { return oidcsession.NewMemoryStore() })
}
