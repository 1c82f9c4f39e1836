package generator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func cleanConfig() Config {
	cfg := DefaultConfig()
	cfg.Seed = 42
	cfg.Users = 2000
	cfg.Start = testStart
	return cfg
}

func noisyConfig() Config {
	cfg := cleanConfig()
	cfg.OutOfOrder = 0.05
	cfg.Late = 0.03
	cfg.Duplicate = 0.04
	cfg.Malformed = 0.05
	return cfg
}

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func generate(t testing.TB, cfg Config, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	st, err := mustNew(t, cfg).WriteJSONL(&buf, n)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != n {
		t.Fatalf("Stats.Records = %d, want %d", st.Records, n)
	}
	return buf.Bytes()
}

func lines(b []byte) [][]byte {
	ls := bytes.Split(b, []byte("\n"))
	if len(ls) > 0 && len(ls[len(ls)-1]) == 0 {
		ls = ls[:len(ls)-1]
	}
	return ls
}

// parsed is a record decoded and checked by the rules of the product spec,
// independently of the generator's code.
type parsed struct {
	ID, Type, User, Product, SessionID, Device, Country, Category, Referrer string
	Time                                                                    time.Time
	Price                                                                   string // the number literal
	Qty                                                                     int64
	HasProduct                                                              bool
}

var (
	priceRe   = regexp.MustCompile(`^(0|[1-9][0-9]*)\.[0-9]{2}$`)
	countryRe = regexp.MustCompile(`^[A-Z]{2}$`)
	sidRe     = regexp.MustCompile(`^[0-9a-f]{16}$`)
	knownCats = map[string]bool{"electronics": true, "books": true, "home": true, "fashion": true,
		"sports": true, "beauty": true, "toys": true, "grocery": true}
	knownDevices = map[string]bool{"desktop": true, "mobile": true, "tablet": true}
)

// validate applies the event rules: required fields, JSON types, ranges,
// and an event_time at most 24h after now. Prices must have exactly two
// decimals (stricter than the spec: the generator promises it).
func validate(line []byte, now time.Time) (p parsed, err error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return p, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return p, errors.New("trailing data")
	}
	str := func(name string, required bool) (string, error) {
		v, ok := m[name]
		if !ok {
			if required {
				return "", fmt.Errorf("%s missing", name)
			}
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s is %T, not a string", name, v)
		}
		return s, nil
	}
	for name := range m {
		switch name {
		case "event_id", "event_type", "user_id", "event_time", "product_id", "price", "quantity",
			"session_id", "device", "country", "category", "referrer":
		default:
			return p, fmt.Errorf("unknown field %q", name)
		}
	}
	if p.ID, err = str("event_id", true); err != nil {
		return p, err
	}
	if len(p.ID) < 1 || len(p.ID) > 128 {
		return p, fmt.Errorf("event_id has %d bytes", len(p.ID))
	}
	if p.Type, err = str("event_type", true); err != nil {
		return p, err
	}
	if p.Type != "page_view" && p.Type != "add_to_cart" && p.Type != "purchase" {
		return p, fmt.Errorf("unknown event_type %q", p.Type)
	}
	if p.User, err = str("user_id", true); err != nil {
		return p, err
	}
	if len(p.User) < 1 || len(p.User) > 256 {
		return p, fmt.Errorf("user_id has %d bytes", len(p.User))
	}
	ts, err := str("event_time", true)
	if err != nil {
		return p, err
	}
	if p.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return p, err
	}
	if !strings.HasSuffix(ts, "Z") {
		return p, fmt.Errorf("event_time %q not in UTC", ts)
	}
	if p.Time.After(now.Add(24 * time.Hour)) {
		return p, fmt.Errorf("event_time %v more than 24h after %v", p.Time, now)
	}
	needsProduct := p.Type != "page_view"
	if p.Product, err = str("product_id", needsProduct); err != nil {
		return p, err
	}
	_, p.HasProduct = m["product_id"]
	if v, ok := m["price"]; ok {
		n, ok := v.(json.Number)
		if !ok {
			return p, fmt.Errorf("price is %T", v)
		}
		p.Price = string(n)
		f, err := n.Float64()
		if err != nil || f < 0 || f > 1e6 || !priceRe.MatchString(p.Price) {
			return p, fmt.Errorf("bad price %s", n)
		}
	} else if needsProduct {
		return p, errors.New("price missing")
	}
	p.Qty = 1
	if v, ok := m["quantity"]; ok {
		n, ok := v.(json.Number)
		if !ok {
			return p, fmt.Errorf("quantity is %T", v)
		}
		q, err := n.Int64()
		if err != nil || q < 1 || q > 1000 {
			return p, fmt.Errorf("bad quantity %s", n)
		}
		p.Qty = q
	}
	for _, f := range []struct {
		name string
		dst  *string
		ok   func(string) bool
	}{
		{"session_id", &p.SessionID, sidRe.MatchString},
		{"device", &p.Device, func(s string) bool { return knownDevices[s] }},
		{"country", &p.Country, countryRe.MatchString},
		{"category", &p.Category, func(s string) bool { return knownCats[s] }},
		{"referrer", &p.Referrer, func(s string) bool { return s != "" }},
	} {
		if *f.dst, err = str(f.name, false); err != nil {
			return p, err
		}
		if _, ok := m[f.name]; ok && !f.ok(*f.dst) {
			return p, fmt.Errorf("bad %s %q", f.name, *f.dst)
		}
	}
	return p, nil
}

func TestDeterminism(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"clean", cleanConfig()},
		{"noisy", noisyConfig()},
		{"plain ids", func() Config { c := noisyConfig(); c.ExoticUserIDs = false; return c }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 30_000
			a := generate(t, tc.cfg, n)
			b := generate(t, tc.cfg, n)
			if !bytes.Equal(a, b) {
				t.Fatal("same seed and config gave different output")
			}
			// Next gives the same records as WriteJSONL.
			g := mustNew(t, tc.cfg)
			var c []byte
			for range n {
				c, _, _ = g.Next(c)
				c = append(c, '\n')
			}
			if !bytes.Equal(a, c) {
				t.Fatal("Next and WriteJSONL disagree")
			}
			other := tc.cfg
			other.Seed++
			if bytes.Equal(a, generate(t, other, n)) {
				t.Fatal("different seeds gave the same output")
			}
		})
	}
}

// TestRecords checks every record of a noisy stream against the rules and
// against the class the generator counted it in.
func TestRecords(t *testing.T) {
	const n = 100_000
	cfg := noisyConfig()
	g := mustNew(t, cfg)
	var (
		rec        []byte
		recent     [][]byte // the last lines, for duplicates
		maxSeen    time.Time
		lastEmit   time.Time
		ids        = make(map[string]bool, n)
		outOfOrder int // OutOfOrder records actually behind a newer one
		exotic     = make(map[string]bool)
	)
	for i := range n {
		before := g.c
		var key []byte
		var emitAt time.Time
		rec, key, emitAt = g.Next(rec[:0])
		d := g.c.sub(before)
		if bytes.IndexByte(rec, '\n') >= 0 {
			t.Fatalf("record %d holds a newline: %s", i, rec)
		}
		if emitAt.Before(lastEmit) {
			t.Fatalf("record %d: emit time went back from %v to %v", i, lastEmit, emitAt)
		}
		lastEmit = emitAt
		p, err := validate(rec, emitAt)
		line := slices.Clone(rec)
		switch {
		case d.malformed != [numMalformedKinds]int{}:
			if err == nil {
				t.Fatalf("record %d counted malformed (%v) but valid: %s", i, d.malformed, rec)
			}
			if !bytes.Equal(key, MalformedKey) {
				if q, err := validUserOf(rec); err != nil || q != string(key) {
					t.Fatalf("record %d: key %q is not its user_id (%v): %s", i, key, err, rec)
				}
			}
			continue
		case err != nil:
			t.Fatalf("record %d invalid: %v: %s", i, err, rec)
		}
		if string(key) != p.User {
			t.Fatalf("record %d: key %q != user_id %q", i, key, p.User)
		}
		if !strings.HasPrefix(p.User, "u") {
			exotic[p.User] = true
		}
		if p.Time.After(emitAt) {
			t.Fatalf("record %d: event_time %v after emit time %v", i, p.Time, emitAt)
		}
		switch {
		case d.dups == 1:
			found := false
			for _, r := range recent {
				found = found || bytes.Equal(r, line)
			}
			if !found {
				t.Fatalf("record %d: duplicate of no recent record: %s", i, rec)
			}
		case d.late == 1:
			age := emitAt.Sub(p.Time)
			if age < 15*time.Minute || age > 125*time.Minute {
				t.Fatalf("record %d: late by %v", i, age)
			}
			if maxSeen.Sub(p.Time) <= 10*time.Minute {
				t.Fatalf("record %d: late record only %v behind the newest", i, maxSeen.Sub(p.Time))
			}
		case d.ooo == 1:
			if age := emitAt.Sub(p.Time); age <= 0 || age > 5*time.Minute {
				t.Fatalf("record %d: out of order by %v", i, age)
			}
			if maxSeen.Sub(p.Time) > 10*time.Minute {
				t.Fatalf("record %d: out-of-order record %v behind the newest: late", i, maxSeen.Sub(p.Time))
			}
			if p.Time.Before(maxSeen) {
				outOfOrder++
			}
		default:
			if !p.Time.Equal(emitAt) {
				t.Fatalf("record %d: in-order event at %v emitted at %v", i, p.Time, emitAt)
			}
		}
		if d.dups == 0 {
			if ids[p.ID] {
				t.Fatalf("record %d: event_id %s seen before", i, p.ID)
			}
			ids[p.ID] = true
		}
		if p.Time.After(maxSeen) {
			maxSeen = p.Time
		}
		recent = append(recent, line)
		if len(recent) > 64 {
			recent = recent[1:]
		}
	}
	st := g.Stats()
	if st.Records != n || st.PageViews+st.AddToCarts+st.Purchases+st.Duplicates+st.MalformedTotal() != n {
		t.Fatalf("stats do not add up: %+v", st)
	}
	if len(exotic) == 0 {
		t.Error("no exotic user ids")
	}
	for _, r := range []struct {
		name string
		got  int
		want float64
	}{
		{"OutOfOrder", st.OutOfOrder, cfg.OutOfOrder},
		{"Late", st.Late, cfg.Late},
		{"Duplicate", st.Duplicates, cfg.Duplicate},
		{"Malformed", st.MalformedTotal(), cfg.Malformed},
	} {
		// Held-back records still pending at the end are missing: up to
		// ~2 hours' worth of late ones.
		if got := float64(r.got) / n; math.Abs(got-r.want) > 0.15*r.want {
			t.Errorf("%s rate %.4f, want %.4f", r.name, got, r.want)
		}
	}
	if outOfOrder < st.OutOfOrder/2 {
		t.Errorf("only %d of %d out-of-order records came after a newer one", outOfOrder, st.OutOfOrder)
	}
	for _, k := range MalformedKinds() {
		want := float64(st.MalformedTotal()) / float64(len(MalformedKinds()))
		if got := float64(st.Malformed[k]); got < 0.7*want || got > 1.3*want {
			t.Errorf("malformed kind %s: %v records, want about %.0f", k, got, want)
		}
		if MalformedReason(k) == "" {
			t.Errorf("no reason for kind %s", k)
		}
	}
}

func validUserOf(rec []byte) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		return "", err
	}
	u, ok := m["user_id"].(string)
	if !ok {
		return "", errors.New("no string user_id")
	}
	return u, nil
}

// TestMalformedKinds checks each kind of defect on its own: every record
// of the kind is rejected by the rules.
func TestMalformedKinds(t *testing.T) {
	cfg := cleanConfig()
	cfg.Malformed = 1
	g := mustNew(t, cfg)
	var rec []byte
	seen := map[string]int{}
	for range 5000 {
		before := g.c
		var emitAt time.Time
		rec, _, emitAt = g.Next(rec[:0])
		d := g.c.sub(before)
		k := slices.IndexFunc(d.malformed[:], func(v int) bool { return v == 1 })
		kind := malformedKinds[k]
		seen[kind]++
		_, err := validate(rec, emitAt)
		if err == nil {
			t.Fatalf("%s record accepted: %s", kind, rec)
		}
		valid := json.Valid(rec)
		var obj map[string]any
		isObj := rec[0] == '{' && json.Unmarshal(rec, &obj) == nil
		switch kind {
		case KindTruncated, KindNotJSON:
			if valid {
				t.Fatalf("%s record is valid JSON: %s", kind, rec)
			}
		case KindNotObject:
			if !valid || isObj {
				t.Fatalf("%s record: %s", kind, rec)
			}
		default:
			if !isObj {
				t.Fatalf("%s record is not an object: %s", kind, rec)
			}
		}
		if kind == KindFutureTime {
			p, _ := time.Parse(time.RFC3339Nano, obj["event_time"].(string))
			if p.Sub(emitAt) < 10*365*24*time.Hour {
				t.Fatalf("future time %v only %v ahead", p, p.Sub(emitAt))
			}
		}
		if bytes.IndexByte(rec, '\n') >= 0 || len(bytes.TrimSpace(rec)) == 0 {
			t.Fatalf("%s record is blank or multi-line: %q", kind, rec)
		}
	}
	if len(seen) != numMalformedKinds {
		t.Fatalf("kinds seen: %v", seen)
	}
}

type userEvent struct {
	p   parsed
	seq int
}

// TestSessions checks the clean stream: global time order, and per user
// sessions split by the gap with a plausible funnel.
func TestSessions(t *testing.T) {
	for _, gap := range []time.Duration{30 * time.Minute, 10 * time.Minute, 2 * time.Hour} {
		t.Run(gap.String(), func(t *testing.T) {
			cfg := cleanConfig()
			cfg.SessionGap = gap
			const n = 100_000
			out := generate(t, cfg, n)
			byUser := map[string][]userEvent{}
			var last time.Time
			for i, l := range lines(out) {
				p, err := validate(l, p0(last))
				if err != nil {
					t.Fatalf("line %d: %v: %s", i, err, l)
				}
				if p.Time.Before(last) {
					t.Fatalf("line %d: clean stream out of time order", i)
				}
				last = p.Time
				byUser[p.User] = append(byUser[p.User], userEvent{p, i})
			}
			inner := min(10*time.Minute, gap/4)
			var sessions, carts, buys, items, multi int
			sidSeen := map[string]bool{}
			for user, evs := range byUser {
				start := 0
				for i := 1; i <= len(evs); i++ {
					if i < len(evs) {
						d := evs[i].p.Time.Sub(evs[i-1].p.Time)
						if d > inner && d < gap+time.Minute {
							t.Fatalf("user %q: events %v apart, neither within a session nor between sessions", user, d)
						}
						if d <= inner {
							continue
						}
					}
					sess := evs[start:i]
					start = i
					sessions++
					c, b := checkSession(t, user, sess, sidSeen)
					if c > 0 {
						carts++
						items += c
						if c > 1 {
							multi++
						}
					}
					if b {
						buys++
					}
				}
			}
			cartRate := float64(carts) / float64(sessions)
			buyRate := float64(buys) / float64(carts)
			t.Logf("%d users, %d sessions, %.1f events/session, cart %.3f, buy %.3f, %.2f items/cart",
				len(byUser), sessions, float64(n)/float64(sessions), cartRate, buyRate, float64(items)/float64(carts))
			if math.Abs(cartRate-cfg.CartRate) > 0.03 || math.Abs(buyRate-cfg.PurchaseRate) > 0.04 {
				t.Errorf("funnel rates %.3f/%.3f, want %.2f/%.2f", cartRate, buyRate, cfg.CartRate, cfg.PurchaseRate)
			}
			if multi == 0 {
				t.Error("no cart with several products")
			}
		})
	}
}

func p0(t time.Time) time.Time {
	if t.IsZero() {
		return testStart
	}
	return t
}

// checkSession checks one gap-delimited session and returns the number of
// products added to the cart and whether it was bought.
func checkSession(t *testing.T, user string, sess []userEvent, sidSeen map[string]bool) (int, bool) {
	t.Helper()
	viewed := map[string]bool{}
	cart := map[string]int64{}
	bought := map[string]bool{}
	sid := sess[0].p.SessionID
	if sid != "" {
		if sidSeen[sid] {
			t.Fatalf("user %q: session_id %s used by two sessions", user, sid)
		}
		sidSeen[sid] = true
	}
	for _, e := range sess {
		p := e.p
		if p.SessionID != sid || p.Device != sess[0].p.Device || p.Country != sess[0].p.Country || p.Referrer != sess[0].p.Referrer {
			t.Fatalf("user %q: session traits change within a session: %+v vs %+v", user, p, sess[0].p)
		}
		switch p.Type {
		case "page_view":
			if p.HasProduct {
				viewed[p.Product] = true
				if p.Category == "" {
					t.Fatalf("product page without category: %+v", p)
				}
			}
			if p.Price != "" {
				t.Fatalf("page view with a price: %+v", p)
			}
		case "add_to_cart":
			if !viewed[p.Product] {
				t.Fatalf("user %q: add_to_cart of %s not viewed before in the session", user, p.Product)
			}
			if _, dup := cart[p.Product]; dup {
				t.Fatalf("user %q: %s added twice", user, p.Product)
			}
			cart[p.Product] = p.Qty
		case "purchase":
			q, ok := cart[p.Product]
			if !ok {
				t.Fatalf("user %q: purchase of %s not in the session's cart", user, p.Product)
			}
			if q != p.Qty {
				t.Fatalf("user %q: bought %d of %s, added %d", user, p.Qty, p.Product, q)
			}
			bought[p.Product] = true
		}
	}
	if len(bought) > 0 && len(bought) != len(cart) {
		t.Fatalf("user %q: bought %d of %d cart items", user, len(bought), len(cart))
	}
	return len(cart), len(bought) > 0
}

// TestKnobsKeepCleanStream: the irregularities only delay, repeat or add
// records; the valid events are those of the clean stream of the seed.
func TestKnobsKeepCleanStream(t *testing.T) {
	clean := map[string]bool{}
	for _, l := range lines(generate(t, cleanConfig(), 120_000)) {
		clean[string(l)] = true
	}
	g := mustNew(t, noisyConfig())
	var rec []byte
	for i := range 100_000 {
		before := g.c
		rec, _, _ = g.Next(rec[:0])
		d := g.c.sub(before)
		if d.malformed == [numMalformedKinds]int{} && !clean[string(rec)] {
			t.Fatalf("record %d is not in the clean stream: %s", i, rec)
		}
	}
}

func TestDailyCurve(t *testing.T) {
	cfg := cleanConfig()
	cfg.Users = 1000
	g := mustNew(t, cfg)
	var byHour [24]int
	end := cfg.Start.Add(7 * 24 * time.Hour)
	var rec []byte
	for g.SimTime().Before(end) {
		var at time.Time
		rec, _, at = g.Next(rec[:0])
		byHour[at.Hour()]++
	}
	t.Logf("events by UTC hour: %v", byHour)
	if float64(byHour[18]) < 2*float64(byHour[4]) {
		t.Errorf("18:00 has %d events, 04:00 %d: want at least twice as many", byHour[18], byHour[4])
	}
	// The estimate is close to what a week gives.
	got := float64(g.Stats().Records) / (7 * 86400)
	if est := g.RecordsPerSimSecond(); math.Abs(got-est) > 0.15*est {
		t.Errorf("RecordsPerSimSecond %.3f, measured %.3f", est, got)
	}
}

func TestPopulation(t *testing.T) {
	cfg := cleanConfig()
	out := generate(t, cfg, 200_000)
	type traits struct{ devices, countries map[string]int }
	users := map[string]*traits{}
	perUser := map[string]int{}
	qty := map[int64]int{}
	prices := map[string]map[string]bool{} // category -> prices seen
	for _, l := range lines(out) {
		p, err := validate(l, testStart.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		perUser[p.User]++
		u := users[p.User]
		if u == nil {
			u = &traits{map[string]int{}, map[string]int{}}
			users[p.User] = u
		}
		u.devices[p.Device]++
		u.countries[p.Country]++
		if p.Type != "page_view" {
			qty[p.Qty]++
			if prices[p.Category] == nil {
				prices[p.Category] = map[string]bool{}
			}
			prices[p.Category][p.Price] = true
		}
	}
	// Heavy tail: the busiest 1% of users make well over 1% of the events.
	counts := make([]int, 0, len(perUser))
	for _, c := range perUser {
		counts = append(counts, c)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	top := 0
	for _, c := range counts[:cfg.Users/100] {
		top += c
	}
	if share := float64(top) / 200_000; share < 0.05 {
		t.Errorf("top 1%% of users make %.3f of the events", share)
	}
	// Stable traits: most of a user's events come from one device and one
	// country.
	var devStable, ctyStable, n float64
	for _, u := range users {
		devStable += modeShare(u.devices)
		ctyStable += modeShare(u.countries)
		n++
	}
	if devStable/n < 0.85 || ctyStable/n < 0.95 {
		t.Errorf("traits not stable: device %.3f, country %.3f", devStable/n, ctyStable/n)
	}
	if one := float64(qty[1]) / float64(qty[1]+qty[2]+qty[3]+qty[4]+qty[5]); one < 0.7 || one > 0.9 {
		t.Errorf("share of quantity 1 is %.3f: %v", one, qty)
	}
	if len(prices) != numCategories {
		t.Errorf("categories with sales: %d", len(prices))
	}
}

func modeShare(m map[string]int) float64 {
	best, total := 0, 0
	for _, v := range m {
		best = max(best, v)
		total += v
	}
	return float64(best) / float64(total)
}

func TestCatalog(t *testing.T) {
	cfg := cleanConfig()
	g := mustNew(t, cfg)
	w := g.w
	for p := range int32(cfg.Products) {
		cat := categories[w.prodCat[p]]
		cents := w.prodCents[p]
		if float64(cents) < cat.min*100-1 || float64(cents) > cat.max*100+100 {
			t.Errorf("product %d: %d cents outside %s range", p, cents, cat.name)
		}
		if !priceRe.Match(w.price(p)) {
			t.Errorf("product %d: price %s", p, w.price(p))
		}
		if want := fmt.Sprintf(`"p%05d"`, p); string(w.productID(p)) != want {
			t.Errorf("product id %s, want %s", w.productID(p), want)
		}
	}
	for c, ps := range w.catProds {
		if len(ps) == 0 {
			t.Errorf("category %s has no products", categories[c].name)
		}
	}
}

func TestUserIDs(t *testing.T) {
	for _, exotic := range []bool{false, true} {
		cfg := cleanConfig()
		cfg.ExoticUserIDs = exotic
		g := mustNew(t, cfg)
		seen := map[string]bool{}
		n := 0
		for u := range int32(cfg.Users) {
			raw, q := g.w.userR(u), g.w.userQ(u)
			var back string
			if err := json.Unmarshal(q, &back); err != nil || back != string(raw) {
				t.Fatalf("user %d: %s does not round-trip to %q (%v)", u, q, raw, err)
			}
			if seen[back] {
				t.Fatalf("user id %q twice", back)
			}
			seen[back] = true
			if back != fmt.Sprintf("u%06d", u) {
				n++
			}
		}
		if exotic != (n > 0) || n > cfg.Users/20 {
			t.Errorf("exotic=%v: %d exotic ids", exotic, n)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnl\nnul\x00", "用户42", "bad\xffutf8", "\u2028"} {
		var back string
		q := appendJSONString(nil, s)
		if err := json.Unmarshal(q, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, q, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("%q -> %s -> %q", s, q, back)
		}
	}
}

func TestTimeFormat(t *testing.T) {
	var f timeFormatter
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 10_000 {
		us := r.Int64N(300*365*usPerDay) - 100*365*usPerDay // 1870..2170
		if i%2 == 1 {
			us = testStart.UnixMicro() + r.Int64N(3*usPerDay)
		}
		got := string(f.append(nil, us))
		want := time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
		if got != want {
			t.Fatalf("%d: %s, want %s", us, got, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Users", func(c *Config) { c.Users = 0 }},
		{"Products", func(c *Config) { c.Products = -1 }},
		{"Start", func(c *Config) { c.Start = time.Time{} }},
		{"Speedup", func(c *Config) { c.Speedup = 0 }},
		{"SessionGap", func(c *Config) { c.SessionGap = time.Second }},
		{"SessionsPerUserDay", func(c *Config) { c.SessionsPerUserDay = math.NaN() }},
		{"CartRate", func(c *Config) { c.CartRate = 1.5 }},
		{"PurchaseRate", func(c *Config) { c.PurchaseRate = -0.1 }},
		{"DailyAmplitude", func(c *Config) { c.DailyAmplitude = 1 }},
		{"Malformed", func(c *Config) { c.Malformed = math.NaN() }},
		{"at most 1", func(c *Config) { c.Late, c.OutOfOrder = 0.6, 0.6 }},
		{"RunID", func(c *Config) { c.RunID = "run-1" }},
		{"RunID", func(c *Config) { c.RunID = strings.Repeat("x", 33) }},
	} {
		cfg := cleanConfig()
		tc.edit(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v", tc.field, err)
		}
	}
	if _, err := New(DefaultConfig()); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
	// Extremes work.
	for _, edit := range []func(*Config){
		func(c *Config) { c.Users, c.Products = 1, 1 },
		func(c *Config) { c.Malformed = 1 },
		func(c *Config) { c.Duplicate, c.OutOfOrder = 0.5, 0.5 },
		func(c *Config) { c.Late = 1 },
		func(c *Config) { c.CartRate, c.PurchaseRate = 1, 1 },
		func(c *Config) { c.SessionGap, c.DailyAmplitude = time.Minute, 0 },
	} {
		cfg := cleanConfig()
		edit(&cfg)
		if _, err := mustNew(t, cfg).WriteJSONL(io.Discard, 20_000); err != nil {
			t.Fatal(err)
		}
	}
}

// eventIDs returns the event_id of every record that has a non-empty one.
func eventIDs(t *testing.T, out []byte) []string {
	t.Helper()
	var ids []string
	for _, l := range lines(out) {
		var e struct {
			ID any `json:"event_id"`
		}
		if json.Unmarshal(l, &e) == nil {
			if id, ok := e.ID.(string); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// TestRunID: runs of one seed share the shop but neither event ids nor the
// clickstream; each run is reproducible.
func TestRunID(t *testing.T) {
	const n = 20_000
	base := noisyConfig()
	a, b := base, base
	a.RunID, b.RunID = "mhxk2w1bq0z7c4", "mhxk2w1bq0z7c5"
	outA := generate(t, a, n)
	if !bytes.Equal(outA, generate(t, a, n)) {
		t.Fatal("same seed and run id gave different output")
	}
	outB, outBase := generate(t, b, n), generate(t, base, n)
	idRe := regexp.MustCompile(`^e-42-` + a.RunID + `-m?[0-9]+(-x+)?$`)
	seenA := map[string]bool{}
	for _, id := range eventIDs(t, outA) {
		if !idRe.MatchString(id) {
			t.Fatalf("event_id %q of run %s", id, a.RunID)
		}
		seenA[id] = true
	}
	for name, out := range map[string][]byte{"another run": outB, "no run id": outBase} {
		for _, id := range eventIDs(t, out) {
			if seenA[id] {
				t.Fatalf("%s repeats the event_id %s", name, id)
			}
		}
		if bytes.Equal(clickstream(t, outA), clickstream(t, out)) {
			t.Errorf("%s has the same clickstream", name)
		}
	}
	// Same shop: every user of a run is a user of the seed's population.
	g := mustNew(t, base)
	for _, l := range lines(generate(t, func() Config { c := cleanConfig(); c.RunID = a.RunID; return c }(), n)) {
		p, err := validate(l, testStart.AddDate(1, 0, 0))
		if err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if _, ok := g.w.lookup(p.User); !ok {
			t.Fatalf("user %q is not of the seed's population", p.User)
		}
	}
}

// clickstream is the sequence of user and event type of the valid records.
func clickstream(t *testing.T, out []byte) []byte {
	t.Helper()
	var b []byte
	for _, l := range lines(out) {
		if p, err := validate(l, testStart.AddDate(1, 0, 0)); err == nil {
			b = append(append(append(b, p.User...), p.Type...), 0)
		}
	}
	return b
}

func TestNewRunID(t *testing.T) {
	now := time.Now()
	seen := map[string]bool{}
	for range 1000 {
		id := NewRunID(now)
		if seen[id] || !validRunID(id) || len(id) < 10 {
			t.Fatalf("NewRunID gave %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
	if a, b := NewRunID(now), NewRunID(now.Add(time.Millisecond)); a[:8] == b[:8] {
		t.Errorf("run ids %s and %s a millisecond apart share their time part", a, b)
	}
	cfg := cleanConfig()
	cfg.RunID = NewRunID(now)
	mustNew(t, cfg)
}

// TestContinueUsers: a run that continues an earlier one keeps every user's
// sessions apart by the session gap across the restart.
func TestContinueUsers(t *testing.T) {
	cfg := cleanConfig()
	cfg.Users, cfg.SessionsPerUserDay = 100, 10 // busy users: sessions back to back
	cfg.RunID = "first"
	var out bytes.Buffer
	if _, err := mustNew(t, cfg).WriteJSONLUntil(&out, cfg.Start.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	lastSeen := map[string]time.Time{}
	var last time.Time
	for _, l := range lines(out.Bytes()) {
		p, err := validate(l, testStart.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		lastSeen[p.User] = p.Time
		if p.Time.After(last) {
			last = p.Time
		}
	}
	spacing := cfg.SessionGap + time.Minute
	// tooClose returns the users whose first event of the second run comes
	// less than the spacing after their last one of the first run.
	tooClose := func(resume bool) []string {
		next := cfg
		next.RunID, next.Start = "second", last
		g := mustNew(t, next)
		if resume {
			if n := g.ContinueUsers(lastSeen); n != len(lastSeen) {
				t.Fatalf("ContinueUsers took %d of %d users", n, len(lastSeen))
			}
		}
		var out bytes.Buffer
		if _, err := g.WriteJSONLUntil(&out, next.Start.Add(6*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var bad []string
		done := map[string]bool{}
		for _, l := range lines(out.Bytes()) {
			p, err := validate(l, testStart.AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if p.Time.Before(last) {
				t.Fatalf("second run goes back in time: %v before %v", p.Time, last)
			}
			if prev, ok := lastSeen[p.User]; ok && !done[p.User] && p.Time.Sub(prev) < spacing {
				bad = append(bad, p.User)
			}
			done[p.User] = true
		}
		return bad
	}
	if bad := tooClose(false); len(bad) == 0 {
		t.Fatal("test is too weak: without ContinueUsers every user keeps the gap anyway")
	}
	if bad := tooClose(true); len(bad) > 0 {
		t.Errorf("users %q start a session within %v of their last event of the first run", bad, spacing)
	}

	// Every user id, plain or exotic, is found; nothing else is.
	big := cleanConfig()
	big.Users = 20_000
	g := mustNew(t, big)
	for u := range int32(big.Users) {
		if got, ok := g.w.lookup(string(g.w.userR(u))); !ok || got != u {
			t.Fatalf("lookup(%q) = %d, %v", g.w.userR(u), got, ok)
		}
	}
	for _, id := range []string{"", "u", "nobody", "u020000", "u0000012x", "x000012", "u000012 ", "u99999999999999999999"} {
		if u, ok := g.w.lookup(id); ok {
			t.Errorf("lookup(%q) = %d", id, u)
		}
	}
	if n := g.ContinueUsers(map[string]time.Time{"nobody": testStart}); n != 0 {
		t.Errorf("ContinueUsers of unknown users took %d", n)
	}
}

func TestWriteJSONLUntil(t *testing.T) {
	cfg := noisyConfig()
	g := mustNew(t, cfg)
	end := cfg.Start.Add(3 * time.Hour)
	var buf bytes.Buffer
	st, err := g.WriteJSONLUntil(&buf, end)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(lines(buf.Bytes())); got != st.Records || got == 0 {
		t.Fatalf("%d lines, stats %+v", got, st)
	}
	if g.SimTime().Before(end) {
		t.Fatalf("stopped at %v before %v", g.SimTime(), end)
	}
	// The records are the same as those of WriteJSONL.
	if want := generate(t, cfg, st.Records); !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("WriteJSONLUntil and WriteJSONL disagree")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	g := mustNew(t, cleanConfig())
	if _, err := g.WriteJSONL(&failWriter{n: 2}, 100_000); err == nil || err.Error() != "disk full" {
		t.Fatalf("err = %v", err)
	}
	// Small outputs are flushed at the end.
	var buf bytes.Buffer
	if _, err := g.WriteJSONL(bufio.NewWriter(&buf), 0); err != nil || buf.Len() != 0 {
		t.Fatal(err)
	}
}

func TestClock(t *testing.T) {
	wall := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := Clock{Start: wall.Add(-24 * time.Hour), WallStart: wall, Speedup: 60}
	for _, tc := range []struct {
		after time.Duration // wall time since WallStart
		sim   time.Time
	}{
		{0, wall.Add(-24 * time.Hour)},
		{time.Minute, wall.Add(-23 * time.Hour)},
		{20 * time.Minute, wall.Add(-4 * time.Hour)},
		{24 * time.Minute, wall},                       // a day replayed, still behind
		{25 * time.Minute, wall.Add(25 * time.Minute)}, // caught up at 24h/59
		{time.Hour, wall.Add(time.Hour)},               // real time from then on
	} {
		w := wall.Add(tc.after)
		if got := c.Sim(w); !got.Equal(tc.sim) {
			t.Errorf("Sim(+%v) = %v, want %v", tc.after, got, tc.sim)
		}
		if got := c.Due(tc.sim); !got.Equal(w) {
			t.Errorf("Due(%v) = %v, want %v", tc.sim, got, w)
		}
	}
	// Never ahead of the wall clock, and Due inverts Sim.
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		w := wall.Add(time.Duration(r.Int64N(int64(48 * time.Hour))))
		s := c.Sim(w)
		if s.After(w) {
			t.Fatalf("Sim(%v) = %v is ahead", w, s)
		}
		if d := c.Due(s); d.After(w) || w.Sub(d) > time.Microsecond && s.Before(w) {
			t.Fatalf("Due(Sim(%v)) = %v", w, d)
		}
	}
	g := mustNew(t, cleanConfig())
	if gc := g.Clock(wall); !gc.Start.Equal(testStart) || gc.Speedup != 60 {
		t.Errorf("Generator.Clock = %+v", gc)
	}
}

func TestNoAllocs(t *testing.T) {
	for name, cfg := range map[string]Config{"clean": cleanConfig(), "held back": func() Config {
		c := cleanConfig()
		c.OutOfOrder, c.Late, c.Duplicate = 0.05, 0.05, 0.05
		return c
	}()} {
		g := mustNew(t, cfg)
		buf := make([]byte, 0, 4096)
		for range 200_000 { // warm up: free lists and heaps at their size
			buf, _, _ = g.Next(buf[:0])
		}
		if a := testing.AllocsPerRun(10_000, func() { buf, _, _ = g.Next(buf[:0]) }); a > 0.001 {
			t.Errorf("%s: %v allocations per record", name, a)
		}
	}
}

func BenchmarkWriteJSONL(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"clean", func() Config { c := DefaultConfig(); return c }()},
		{"noisy", func() Config {
			c := DefaultConfig()
			c.OutOfOrder, c.Late, c.Duplicate, c.Malformed = 0.02, 0.01, 0.01, 0.01
			return c
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, bc.cfg)
			var cw countWriter
			b.ReportAllocs()
			b.ResetTimer()
			if _, err := g.WriteJSONL(&cw, b.N); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cw)/float64(b.N), "B/event")
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
