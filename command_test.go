package runctl

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCommandTimerLearnsHowLongCommandsTake(t *testing.T) {
	var ct commandTimer
	assert.Equal(t, 500*time.Millisecond, ct.expected(500*time.Millisecond), "before any command, the fallback")

	ct.observe(time.Second)
	assert.Equal(t, 900*time.Millisecond, ct.expected(0), "just under the last time, so the first ask rarely misses")

	ct.observe(30 * time.Second)
	assert.Equal(t, 900*time.Millisecond, ct.expected(0), "a long upload says nothing about the next poll")

	for i := 0; i < 20; i++ {
		ct.observe(2 * time.Millisecond)
	}
	assert.Equal(t, 20*time.Millisecond, ct.expected(0), "never asked sooner than 20ms")

	for i := 0; i < 40; i++ {
		ct.observe(4900 * time.Millisecond)
	}
	assert.Equal(t, 2*time.Second, ct.expected(0), "never waits longer than 2s before asking")
}
