package generator

import (
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

const (
	usPerSec  = int64(1_000_000)
	usPerMin  = 60 * usPerSec
	usPerHour = 60 * usPerMin
	usPerDay  = 24 * usPerHour

	// inSession marks a user's lastEnd while a session is open: no new
	// session can start.
	inSession = math.MaxInt64

	// sessionMargin is added to SessionGap between two sessions of a user so
	// that splitting a user's events at the gap is never a close call.
	sessionMargin = usPerMin
	// maxPause bounds a pause inside a session (further capped at gap/4, so
	// that even a few late, session-less events leave the gap unbroken).
	maxPause = 10 * usPerMin
	// peakHour is the UTC hour of the most traffic.
	peakHour = 19.0

	// Session shape: a third of the sessions bounce after one page; the
	// others view 2 + Exp(mean 5) pages.
	bounceRate     = 0.35
	meanExtraViews = 5.0
	maxViews       = 40
	meanCartItems  = 0.7*1 + 0.2*2 + 0.1*3

	// Irregular records: delays in event time, and how far back duplicates
	// reach.
	oooMinDelay  = usPerSec
	oooMeanDelay = 45 * usPerSec
	oooMaxDelay  = 5 * usPerMin
	lateMinDelay = 15 * usPerMin
	lateMaxDelay = 120 * usPerMin
	ringSize     = 16
)

// What becomes of a clean event.
const (
	holdNone uint8 = iota
	holdOOO
	holdLate
)

// Event types.
const (
	typePageView uint8 = iota
	typeAddToCart
	typePurchase
)

var typeNames = [...]string{"page_view", "add_to_cart", "purchase"}

// typeFrag closes the event_id and opens the user_id.
var typeFrag = func() (f [3]string) {
	for i, n := range typeNames {
		f[i] = `","event_type":"` + n + `","user_id":`
	}
	return f
}()

const noCategory = 0xff

// event is one event as generated: plain values, no pointers, so that held
// back and duplicated events are cheap to keep and format later.
type event struct {
	t        int64 // event time, µs since the Unix epoch
	release  int64 // when a held-back event is due, µs
	seq      uint64
	sid      uint64 // client session id hint
	id       idRef  // the user
	product  int32  // -1: none
	typ      uint8
	cat      uint8 // noCategory: none
	qty      uint8 // add_to_cart and purchase
	device   uint8
	country  uint8
	referrer uint8
	hasSID   bool
}

// Steps of a session plan.
const (
	stepView uint8 = iota
	stepAdd
	stepCheckout
	stepPurchase
)

var stepType = [...]uint8{stepView: typePageView, stepAdd: typeAddToCart, stepCheckout: typePageView, stepPurchase: typePurchase}

type step struct {
	t       int64
	product int32
	kind    uint8
	cat     uint8
	qty     uint8 // for a view: the quantity of the add that follows it, if any
}

// session is a user's visit, planned in full when it starts and then played
// back step by step in time order with all other open sessions.
type session struct {
	steps    []step
	pos      int
	sid      uint64
	user     int32
	id       idRef
	device   uint8
	country  uint8
	referrer uint8
	hasSID   bool
}

func (s *session) next() int64 { return s.steps[s.pos].t }

// Generator produces the event stream of Config. It is not safe for
// concurrent use.
//
// Records come out in order of a simulated clock (SimTime): clean events at
// their event time; out-of-order, late and duplicated ones after newer
// events; malformed ones at the current time.
type Generator struct {
	cfg   Config
	w     *world
	sim   *rand.Rand // the clean clickstream
	noise *rand.Rand // irregular records: independent of sim
	tf    timeFormatter

	idPrefix  []byte // {"event_id":"e-<seed>- or {"event_id":"e-<seed>-<run>-
	malPrefix []byte // "e-<seed>-m or "e-<seed>-<run>-m
	gap       int64  // µs
	pauseCap  int64  // µs
	amp       float64
	candMean  float64 // mean µs between candidate session arrivals

	// Simulation state.
	nextArrival  int64
	lastEnd      []int64           // end of the user's last session, µs, or inSession
	active       minHeap[*session] // open sessions by next step time
	free         []*session
	chosen, cand []int32 // scratch for planning
	seq          uint64

	// Emission state.
	simNow      int64
	pending     event
	havePending bool
	pendingHold uint8          // holdNone, holdOOO or holdLate
	ooo, late   minHeap[event] // by release
	pOOO, pLate float64        // per clean event
	ring        [ringSize]event
	ringN       int
	ringPos     int
	malSeq      uint64
	mb          recBuilder

	c counters
}

// counters are the running totals behind Stats.
type counters struct {
	records, dups, ooo, late int
	types                    [3]int
	malformed                [numMalformedKinds]int
}

// Stats counts emitted records. Every record is exactly one of: a first
// emission of a valid event (PageViews+AddToCarts+Purchases, which include
// the OutOfOrder and Late ones), a Duplicate, or Malformed.
type Stats struct {
	Records    int
	PageViews  int
	AddToCarts int
	Purchases  int
	OutOfOrder int
	Late       int
	Duplicates int
	// Malformed counts malformed records per kind (see MalformedKinds);
	// kinds that did not occur are absent.
	Malformed map[string]int
}

// MalformedTotal is the number of malformed records.
func (s Stats) MalformedTotal() int {
	n := 0
	for _, v := range s.Malformed {
		n += v
	}
	return n
}

func (c counters) stats() Stats {
	s := Stats{
		Records: c.records, PageViews: c.types[typePageView], AddToCarts: c.types[typeAddToCart],
		Purchases: c.types[typePurchase], OutOfOrder: c.ooo, Late: c.late, Duplicates: c.dups,
		Malformed: make(map[string]int),
	}
	for k, n := range c.malformed {
		if n > 0 {
			s.Malformed[malformedKinds[k]] = n
		}
	}
	return s
}

func (c counters) sub(o counters) counters {
	c.records -= o.records
	c.dups -= o.dups
	c.ooo -= o.ooo
	c.late -= o.late
	for i := range c.types {
		c.types[i] -= o.types[i]
	}
	for i := range c.malformed {
		c.malformed[i] -= o.malformed[i]
	}
	return c
}

// New validates cfg, builds its shop (catalog and users: about 0.3 s and
// 50 MB per million users) and returns a generator positioned at cfg.Start.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Start = cfg.Start.UTC().Truncate(time.Microsecond)
	g := &Generator{
		cfg: cfg,
		// Distinct PCG streams: world, clickstream, noise. A RunID draws
		// another clickstream and noise from the same world.
		sim:      rand.New(rand.NewPCG(cfg.Seed, 0x636c69636b^runMix(cfg.RunID))),
		noise:    rand.New(rand.NewPCG(cfg.Seed, 0x6e6f697365^runMix(cfg.RunID))),
		gap:      cfg.SessionGap.Microseconds(),
		amp:      cfg.DailyAmplitude,
		lastEnd:  make([]int64, cfg.Users),
		simNow:   cfg.Start.UnixMicro(),
		pauseCap: min(maxPause, cfg.SessionGap.Microseconds()/4),
	}
	g.w = newWorld(&cfg, rand.New(rand.NewPCG(cfg.Seed, 0x776f726c64)))
	run := strconv.AppendUint(nil, cfg.Seed, 10) // <seed> or <seed>-<run>
	if cfg.RunID != "" {
		run = append(append(run, '-'), cfg.RunID...)
	}
	g.idPrefix = append(append(append([]byte(nil), `{"event_id":"e-`...), run...), '-')
	g.malPrefix = append(append(append([]byte(nil), `"e-`...), run...), "-m"...)
	for i := range g.lastEnd {
		g.lastEnd[i] = math.MinInt64 / 4
	}
	// Sessions arrive as a Poisson process whose rate follows the daily
	// curve, drawn by thinning a process at the peak rate.
	perUS := float64(cfg.Users) * cfg.SessionsPerUserDay / float64(usPerDay)
	g.candMean = 1 / (perUS * (1 + g.amp))
	g.nextArrival = g.drawArrival(g.simNow)
	if rest := 1 - cfg.Malformed - cfg.Duplicate; rest > 0 {
		g.pOOO = cfg.OutOfOrder / rest
		g.pLate = cfg.Late / rest
	}
	return g, nil
}

// Config returns the configuration in use (Start normalised).
func (g *Generator) Config() Config { return g.cfg }

// SimTime returns the simulated clock: the emit time of the last record, or
// Start before the first. It never decreases.
func (g *Generator) SimTime() time.Time { return time.UnixMicro(g.simNow).UTC() }

// Stats returns the counts of all records emitted so far.
func (g *Generator) Stats() Stats { return g.c.stats() }

// RecordsPerSimSecond estimates the mean number of records per simulated
// second, averaged over a day (the afternoon has more, the night less). A
// caller that wants about R records per wall-clock second can set Speedup to
// R / RecordsPerSimSecond().
func (g *Generator) RecordsPerSimSecond() float64 {
	c := &g.cfg
	views := bounceRate + (1-bounceRate)*(2+1/(math.Exp(1/meanExtraViews)-1))
	perSession := views + c.CartRate*meanCartItems + c.CartRate*c.PurchaseRate*(1+meanCartItems)
	r := float64(c.Users) * c.SessionsPerUserDay / 86400 * perSession
	if rest := 1 - c.Malformed - c.Duplicate; rest > 0 {
		r /= rest
	}
	return r
}

// Next appends the next record (one JSON object, no newline) to dst and
// returns it, the record's key and its emit time on the simulated clock.
//
// The key is the raw user_id (the Kafka record key), or "malformed" for a
// malformed record without a usable user id. It aliases the generator's
// memory: read it, never modify it. A valid record's event_time is never
// after emitAt.
func (g *Generator) Next(dst []byte) (rec, key []byte, emitAt time.Time) {
	rec, key = g.next(dst)
	return rec, key, time.UnixMicro(g.simNow).UTC()
}

// writeBuf is how much WriteJSONL buffers before writing.
const writeBuf = 64 << 10

// WriteJSONL writes the next n records to w, one per line, and returns the
// counts of the records of this call.
func (g *Generator) WriteJSONL(w io.Writer, n int) (Stats, error) {
	return g.write(w, func() bool { n--; return n >= 0 })
}

// WriteJSONLUntil writes records to w, one per line, while the simulated
// clock is before end (so the last record is the first one due at or after
// end), and returns their counts.
func (g *Generator) WriteJSONLUntil(w io.Writer, end time.Time) (Stats, error) {
	e := end.UnixMicro()
	return g.write(w, func() bool { return g.simNow < e })
}

func (g *Generator) write(w io.Writer, more func() bool) (Stats, error) {
	before := g.c
	buf := make([]byte, 0, writeBuf+4096)
	for more() {
		buf, _ = g.next(buf)
		buf = append(buf, '\n')
		if len(buf) >= writeBuf {
			if _, err := w.Write(buf); err != nil {
				return g.c.sub(before).stats(), err
			}
			buf = buf[:0]
		}
	}
	var err error
	if len(buf) > 0 {
		_, err = w.Write(buf)
	}
	return g.c.sub(before).stats(), err
}

// next emits one record: with the configured probabilities a malformed
// record or a duplicate, else the next valid event.
func (g *Generator) next(dst []byte) ([]byte, []byte) {
	g.c.records++
	if junk := g.cfg.Malformed + g.cfg.Duplicate; junk > 0 {
		u := g.noise.Float64()
		if u < g.cfg.Malformed {
			return g.malformed(dst)
		}
		if u < junk && g.ringN > 0 {
			e := &g.ring[g.noise.IntN(g.ringN)]
			g.c.dups++
			return g.appendEvent(dst, e), g.w.raw(e.id)
		}
	}
	e, late := g.nextValid()
	g.c.types[e.typ]++
	if g.cfg.Duplicate > 0 && !late {
		// Only on-time events are repeated: a consumer remembers event ids
		// for a limited event-time horizon.
		g.ring[g.ringPos] = e
		g.ringPos = (g.ringPos + 1) % ringSize
		g.ringN = min(g.ringN+1, ringSize)
	}
	return g.appendEvent(dst, &e), g.w.raw(e.id)
}

// nextValid returns the next valid event to emit and whether it is late,
// and advances the simulated clock. The clock follows the clean stream,
// held-back events included, so that it advances whatever the rates.
func (g *Generator) nextValid() (event, bool) {
	for {
		// A late event is released once the clock is past its release time,
		// so it is 15 min or more older than the clock.
		if len(g.late) > 0 && g.late[0].key <= g.simNow {
			g.c.late++
			return g.late.pop(), true
		}
		if !g.havePending {
			g.pending, g.havePending = g.nextClean(), true
			g.pendingHold = holdNone
			if g.pOOO+g.pLate > 0 {
				switch v := g.noise.Float64(); {
				case v < g.pOOO:
					d := oooMinDelay + int64(g.noise.ExpFloat64()*float64(oooMeanDelay))
					g.pending.release = g.pending.t + min(d, oooMaxDelay)
					g.pendingHold = holdOOO
				case v < g.pOOO+g.pLate:
					g.pending.release = g.pending.t + lateMinDelay + g.noise.Int64N(lateMaxDelay-lateMinDelay)
					g.pendingHold = holdLate
				}
			}
		}
		// An out-of-order event is released just before the first event
		// past its release time, so nothing newer than that has been
		// emitted: it stays within the allowed lateness.
		if len(g.ooo) > 0 && g.ooo[0].key <= g.pending.t {
			e := g.ooo.pop()
			g.simNow = max(g.simNow, e.release)
			g.c.ooo++
			return e, false
		}
		g.havePending = false
		g.simNow = max(g.simNow, g.pending.t)
		switch g.pendingHold {
		case holdOOO:
			g.ooo.push(g.pending.release, g.pending)
		case holdLate:
			g.late.push(g.pending.release, g.pending)
		default:
			return g.pending, false
		}
	}
}

// nextClean plays the simulation forward to its next event: the earliest
// step of the open sessions, starting sessions that arrive before it.
func (g *Generator) nextClean() event {
	for len(g.active) == 0 || g.active[0].key > g.nextArrival {
		g.arrive()
	}
	s := g.active[0].v
	st := &s.steps[s.pos]
	g.seq++
	e := event{
		t: st.t, seq: g.seq, sid: s.sid, id: s.id, product: st.product,
		typ: stepType[st.kind], cat: st.cat, qty: st.qty,
		device: s.device, country: s.country, referrer: s.referrer, hasSID: s.hasSID,
	}
	s.pos++
	if s.pos == len(s.steps) {
		g.lastEnd[s.user] = st.t
		g.active.pop()
		g.free = append(g.free, s)
	} else {
		g.active.rekeyMin(s.next())
	}
	return e
}

// arrive handles the session arrival due now: it picks a user by activity
// and starts a session unless the user is in one or within the session gap
// of the last one (then another user is tried, a few times).
func (g *Generator) arrive() {
	t := g.nextArrival
	g.nextArrival = g.drawArrival(t)
	for range 4 {
		u := g.w.userPick.pick(g.sim)
		if t-g.lastEnd[u] >= g.gap+sessionMargin { // false in a session
			g.startSession(u, t)
			return
		}
	}
}

func (g *Generator) drawArrival(t int64) int64 {
	for {
		t += 1 + int64(g.sim.ExpFloat64()*g.candMean)
		if g.amp == 0 || g.sim.Float64()*(1+g.amp) < g.dayFactor(t) {
			return t
		}
	}
}

// dayFactor is the relative traffic at t: 1 on average over a day.
func (g *Generator) dayFactor(t int64) float64 {
	tod := t % usPerDay
	if tod < 0 {
		tod += usPerDay
	}
	h := float64(tod) / float64(usPerHour)
	return 1 + g.amp*math.Cos(2*math.Pi*(h-peakHour)/24)
}

// Landing and browsing pages.
const (
	pageHome = iota
	pageSearch
	pageCategory
	pageProduct
)

func (g *Generator) pickPage(first bool, referrer uint8) int {
	v := g.sim.Float64()
	switch {
	case first && referrer == refDirect:
		switch {
		case v < 0.55:
			return pageHome
		case v < 0.70:
			return pageSearch
		case v < 0.85:
			return pageCategory
		}
		return pageProduct
	case first:
		switch {
		case v < 0.10:
			return pageHome
		case v < 0.15:
			return pageSearch
		case v < 0.45:
			return pageCategory
		}
		return pageProduct
	}
	switch {
	case v < 0.05:
		return pageHome
	case v < 0.20:
		return pageSearch
	case v < 0.40:
		return pageCategory
	}
	return pageProduct
}

// pickProduct prefers the session's category of interest.
func (g *Generator) pickProduct(focus uint8) int32 {
	if g.sim.Float64() < 0.75 {
		ps := g.w.catProds[focus]
		return ps[g.w.catPick[focus].pick(g.sim)]
	}
	return g.w.prodPick.pick(g.sim)
}

// startSession plans a whole visit of user u starting at t0: browsing, maybe
// adding products it viewed to the cart, maybe checking out that cart.
func (g *Generator) startSession(u int32, t0 int64) {
	r, w := g.sim, g.w
	var s *session
	if n := len(g.free); n > 0 {
		s, g.free = g.free[n-1], g.free[:n-1]
	} else {
		s = &session{steps: make([]step, 0, 16)}
	}
	s.user, s.pos = u, 0
	// Traits are mostly the user's own; now and then another device, rarely
	// another country (travel).
	tr := w.users[u]
	s.id = w.ref(u)
	s.device = tr.device
	if r.Float64() < 0.1 {
		s.device = uint8(w.devicePick.pick(r))
	}
	s.country = tr.country
	if r.Float64() < 0.02 {
		s.country = uint8(w.countryPick.pick(r))
	}
	s.referrer = uint8(w.referrerPick.pick(r))
	s.hasSID = r.Float64() < 0.85
	s.sid = r.Uint64()
	focus := tr.fav
	if r.Float64() < 0.4 {
		focus = w.prodCat[w.prodPick.pick(r)]
	}

	nViews := 1
	if r.Float64() >= bounceRate {
		nViews = min(maxViews, 2+int(r.ExpFloat64()*meanExtraViews))
	}
	nCart := 0
	if r.Float64() < g.cfg.CartRate {
		switch v := r.Float64(); {
		case v < 0.7:
			nCart = 1
		case v < 0.9:
			nCart = 2
		default:
			nCart = 3
		}
		nViews = max(nViews, nCart)
	}
	buy := nCart > 0 && r.Float64() < g.cfg.PurchaseRate

	// Browse.
	steps := s.steps[:0]
	nProd := 0
	for i := range nViews {
		st := step{kind: stepView, product: -1, cat: noCategory}
		switch g.pickPage(i == 0, s.referrer) {
		case pageCategory:
			st.cat = focus
			if r.Float64() < 0.3 {
				st.cat = w.prodCat[w.prodPick.pick(r)]
			}
		case pageProduct:
			st.product = g.pickProduct(focus)
			st.cat = w.prodCat[st.product]
			nProd++
		}
		steps = append(steps, st)
	}
	// A cart needs product pages to add from.
	for i := len(steps) - 1; i >= 0 && nProd < nCart; i-- {
		if steps[i].product < 0 {
			steps[i].product = g.pickProduct(focus)
			steps[i].cat = w.prodCat[steps[i].product]
			nProd++
		}
	}
	// Pick the viewed products that go to the cart: distinct products, in
	// random order.
	if nCart > 0 {
		cand := g.cand[:0]
		for i := range steps {
			if steps[i].product >= 0 {
				cand = append(cand, int32(i))
			}
		}
		r.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		chosen := g.chosen[:0]
	pick:
		for _, i := range cand {
			if len(chosen) == nCart {
				break
			}
			for _, j := range chosen {
				if steps[j].product == steps[i].product {
					continue pick
				}
			}
			chosen = append(chosen, i)
			q := uint8(1)
			if r.Float64() < 0.2 {
				q = uint8(2 + r.IntN(4))
			}
			steps[i].qty = q
		}
		g.cand, g.chosen = cand, chosen
	}
	// Interleave the adds after their product views; the plan is built
	// after the views in the same slice.
	n := len(steps)
	for i := range n {
		steps = append(steps, steps[i])
		if q := steps[i].qty; q > 0 {
			steps[len(steps)-1].qty = 0
			steps = append(steps, step{kind: stepAdd, product: steps[i].product, cat: steps[i].cat, qty: q})
		}
	}
	steps = append(steps[:0], steps[n:]...)
	if buy {
		steps = append(steps, step{kind: stepCheckout, product: -1, cat: noCategory})
		for i := range len(steps) {
			if steps[i].kind == stepAdd {
				p := steps[i]
				p.kind = stepPurchase
				steps = append(steps, p)
			}
		}
	}
	t := t0
	for i := range steps {
		if i > 0 {
			t += g.pause(steps[i-1].kind, steps[i].kind)
		}
		steps[i].t = t
	}
	s.steps = steps
	g.lastEnd[u] = inSession
	g.active.push(s.next(), s)
}

// pause is the think time before a step, in µs: seconds to minutes, never
// more than pauseCap.
func (g *Generator) pause(prev, cur uint8) int64 {
	r := g.sim
	var sec float64
	switch {
	case cur == stepAdd:
		sec = 2 + r.ExpFloat64()*15
	case cur == stepPurchase && prev == stepPurchase: // lines of one order
		sec = 0.001 + r.Float64()*0.3
	case cur == stepPurchase:
		sec = 10 + r.ExpFloat64()*40
	default:
		sec = 1 + r.ExpFloat64()*40
	}
	return min(int64(sec*1e6), g.pauseCap)
}

// appendEvent formats a valid event. Field order is fixed: event_id,
// event_type, user_id, event_time, product_id, price, quantity, session_id,
// device, country, category, referrer.
func (g *Generator) appendEvent(dst []byte, e *event) []byte {
	w := g.w
	dst = append(dst, g.idPrefix...)
	dst = strconv.AppendUint(dst, e.seq, 10)
	dst = append(dst, typeFrag[e.typ]...)
	dst = append(dst, w.quoted(e.id)...)
	dst = append(dst, `,"event_time":"`...)
	dst = g.tf.append(dst, e.t)
	dst = append(dst, '"')
	if e.product >= 0 {
		dst = append(dst, w.productFrag(e.product)...)
		if e.typ != typePageView {
			dst = append(dst, w.priceFrag(e.product)...)
			dst = append(dst, `,"quantity":`...)
			dst = strconv.AppendUint(dst, uint64(e.qty), 10)
		}
	}
	if e.hasSID {
		dst = append(dst, `,"session_id":"`...)
		dst = appendHex16(dst, e.sid)
		dst = append(dst, '"')
	}
	dst = append(dst, deviceFrag[e.device]...)
	dst = append(dst, countryFrag[e.country]...)
	if e.cat != noCategory {
		dst = append(dst, categoryFrag[e.cat]...)
	}
	dst = append(dst, referrerFrag[e.referrer]...)
	return append(dst, '}')
}
