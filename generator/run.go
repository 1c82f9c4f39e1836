package generator

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// maxRunID is the longest Config.RunID: event ids stay far below the 128
// bytes a consumer accepts.
const maxRunID = 32

// runIDRandDigits is the number of random base-36 digits of NewRunID.
const runIDRandDigits = 6

// NewRunID returns a fresh Config.RunID for a run starting at now: the
// milliseconds since the Unix epoch and six random digits, in base 36
// (e.g. "mhxk2w1bq0z7c4"). Two runs get the same id only when they start in
// the same millisecond and draw the same 31 random bits.
func NewRunID(now time.Time) string {
	id := strconv.AppendUint(nil, uint64(max(0, now.UnixMilli())), 36)
	r := rand.Uint64N(pow36(runIDRandDigits))
	for i := runIDRandDigits - 1; i >= 0; i-- {
		id = append(id, "0123456789abcdefghijklmnopqrstuvwxyz"[r/pow36(i)%36])
	}
	return string(id)
}

func pow36(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 36
	}
	return p
}

func validRunID(id string) bool {
	if len(id) > maxRunID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return true
}

// runMix is the value a RunID mixes into the random streams of the
// clickstream and of the irregular records: 0 for none, so that the stream
// of a Seed alone stays what it always was.
func runMix(id string) uint64 {
	if id == "" {
		return 0
	}
	h := uint64(14695981039346656037) // FNV-1a, then a splitmix64 finaliser
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h | 1 // never 0
}

// ContinueUsers tells a generator that continues an earlier stream of the
// same shop (a restarted live demo: same Seed, new RunID, Start where the
// earlier stream stopped) when each user was last active in it. Such a
// user's next session starts at least SessionGap + 1 min after that time,
// as between two sessions of one stream, instead of possibly right after
// an event of the earlier run. Keys are raw user ids; ids that are not
// users of this shop are ignored. It returns the number of users updated.
// Call it before the first Next.
func (g *Generator) ContinueUsers(lastSeen map[string]time.Time) int {
	n := 0
	for id, t := range lastSeen {
		u, ok := g.w.lookup(id)
		if !ok {
			continue
		}
		us := t.UnixMicro()
		if g.lastEnd[u] == inSession || us <= g.lastEnd[u] {
			continue
		}
		g.lastEnd[u] = us
		n++
	}
	return n
}

// lookup returns the index of the user with the raw id, if there is one.
// Every id, plain ("u000123") or exotic, ends with the user's index as its
// last run of decimal digits.
func (w *world) lookup(id string) (int32, bool) {
	end := len(id)
	for end > 0 && !isDigit(id[end-1]) {
		end--
	}
	start := end
	for start > 0 && isDigit(id[start-1]) {
		start--
	}
	if start == end || end-start > 9 {
		return 0, false
	}
	i, err := strconv.Atoi(id[start:end])
	if err != nil || i >= len(w.users) {
		return 0, false
	}
	u := int32(i)
	if string(w.userR(u)) != id {
		return 0, false
	}
	return u, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
