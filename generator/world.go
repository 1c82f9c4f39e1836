package generator

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// category is a product category with its share of the catalog and a price
// range (in currency units) that prices are drawn from, log-uniformly.
type category struct {
	name     string
	weight   float64
	min, max float64
}

var categories = [...]category{
	{"electronics", 16, 9.99, 2499.99},
	{"books", 14, 4.99, 89.99},
	{"home", 14, 4.99, 899.99},
	{"fashion", 16, 7.99, 399.99},
	{"sports", 10, 9.99, 799.99},
	{"beauty", 10, 2.99, 149.99},
	{"toys", 8, 4.99, 249.99},
	{"grocery", 12, 0.99, 59.99},
}

const numCategories = len(categories)

type weighted struct {
	name   string
	weight float64
}

var devices = [...]weighted{{"desktop", 42}, {"mobile", 48}, {"tablet", 10}}

var countries = [...]weighted{
	{"US", 30}, {"GB", 9}, {"DE", 9}, {"FR", 7}, {"IN", 7}, {"BR", 5}, {"JP", 5},
	{"CA", 4}, {"ES", 3.5}, {"IT", 3.5}, {"NL", 3}, {"PL", 2.5}, {"AU", 2.5},
	{"MX", 2.5}, {"SE", 1.5}, {"KR", 1.5}, {"CN", 1}, {"ZA", 1}, {"NG", 1}, {"AR", 1},
}

// referrers: "direct" visitors land on the home page more often, the others
// (search, ads, social, mail) on a product or category page.
var referrers = [...]weighted{
	{"direct", 30}, {"google", 30}, {"email", 9}, {"facebook", 8}, {"tiktok", 5},
	{"instagram", 6}, {"bing", 4}, {"affiliate", 4}, {"youtube", 4},
}

const refDirect = 0

// exoticIDs are templates for user ids that exercise JSON escaping and
// UTF-8 handling downstream; the user index makes each one unique.
var exoticIDs = [...]string{
	`o'brien.%d`,
	`bob, "the builder" #%d`,
	`用户%d`,
	`zoë.müller+%d@example.com`,
	`Ελένη_%d`,
	`Алексей-%d`,
	`back\slash\%d`,
	`<b>html</b>&amp;%d`,
	`José García %d`,
	`🛒shopper%d`,
	`; DROP TABLE users; --%d`,
	`ユーザー%d`,
}

const exoticShare = 0.01

// JSON fragments of the low-cardinality fields, built once.
var (
	deviceFrag   = fragments(`,"device":`, devices[:])
	countryFrag  = fragments(`,"country":`, countries[:])
	referrerFrag = fragments(`,"referrer":`, referrers[:])
	categoryFrag = func() (f [numCategories]string) {
		for i, c := range categories {
			f[i] = `,"category":` + string(appendJSONString(nil, c.name))
		}
		return f
	}()
)

func fragments(prefix string, ws []weighted) []string {
	f := make([]string, len(ws))
	for i, w := range ws {
		f[i] = prefix + string(appendJSONString(nil, w.name))
	}
	return f
}

func weightsOf(ws []weighted) []float64 {
	f := make([]float64, len(ws))
	for i, w := range ws {
		f[i] = w.weight
	}
	return f
}

// world is the static part of the simulation, derived from the seed: the
// catalog and the users with their stable traits. Strings are stored
// pre-encoded in arenas indexed by offsets, so that formatting an event is
// copying and a million users cost no per-user allocation.
type world struct {
	// User ids: user i's entry in userIDs is [userOff[i], userOff[i+1]):
	// the JSON-quoted id, followed by the raw id when the two differ by
	// more than the quotes. One arena keeps both within a cache line.
	userIDs  []byte
	userOff  []uint32
	users    []userTraits
	userPick aliasTable

	prodFrag  []byte   // `,"product_id":"p00042"` then `,"price":19.99`
	prodOff   []uint32 // product i: [prodOff[2i], prodOff[2i+1]) id, [prodOff[2i+1], prodOff[2i+2]) price
	prodCat   []uint8
	prodCents []int64
	prodPick  aliasTable
	catProds  [numCategories][]int32
	catPick   [numCategories]aliasTable

	devicePick, countryPick, referrerPick aliasTable
}

// userTraits are a user's stable traits, packed so that starting a session
// touches one cache line for them.
type userTraits struct {
	device, country uint8
	fav             uint8 // favourite category
	quotedLen       uint8 // length of the quoted id
}

// idRef locates a user's quoted and raw id in world.userIDs.
type idRef struct {
	q, r   uint32
	qn, rn uint8
}

func (w *world) ref(u int32) idRef {
	start, end := w.userOff[u], w.userOff[u+1]
	qn := uint32(w.users[u].quotedLen)
	if start+qn == end { // plain id: raw is inside the quotes
		return idRef{q: start, qn: uint8(qn), r: start + 1, rn: uint8(qn - 2)}
	}
	return idRef{q: start, qn: uint8(qn), r: start + qn, rn: uint8(end - start - qn)}
}

func (w *world) quoted(id idRef) []byte { return w.userIDs[id.q : id.q+uint32(id.qn)] }
func (w *world) raw(id idRef) []byte    { return w.userIDs[id.r : id.r+uint32(id.rn)] }

func (w *world) userQ(u int32) []byte { return w.quoted(w.ref(u)) }
func (w *world) userR(u int32) []byte { return w.raw(w.ref(u)) }

const (
	productIDPrefix = `,"product_id":`
	pricePrefix     = `,"price":`
)

func (w *world) productFrag(p int32) []byte {
	return w.prodFrag[w.prodOff[2*p]:w.prodOff[2*p+1]]
}
func (w *world) priceFrag(p int32) []byte {
	return w.prodFrag[w.prodOff[2*p+1]:w.prodOff[2*p+2]]
}

// productID and price return the bare JSON values.
func (w *world) productID(p int32) []byte { return w.productFrag(p)[len(productIDPrefix):] }
func (w *world) price(p int32) []byte     { return w.priceFrag(p)[len(pricePrefix):] }

func newWorld(cfg *Config, r *rand.Rand) *world {
	w := &world{
		devicePick:   newAlias(weightsOf(devices[:])),
		countryPick:  newAlias(weightsOf(countries[:])),
		referrerPick: newAlias(weightsOf(referrers[:])),
	}
	w.buildCatalog(cfg.Products, r)
	w.buildUsers(cfg.Users, cfg.ExoticUserIDs, r)
	return w
}

func (w *world) buildCatalog(n int, r *rand.Rand) {
	catW := make([]float64, numCategories)
	for i, c := range categories {
		catW[i] = c.weight
	}
	catPick := newAlias(catW)
	width := max(5, len(strconv.Itoa(n-1)))
	w.prodCat = make([]uint8, n)
	w.prodCents = make([]int64, n)
	w.prodOff = make([]uint32, 0, 2*n+1)
	w.prodFrag = make([]byte, 0, n*(len(productIDPrefix)+len(pricePrefix)+16))
	weights := make([]float64, n)
	for i := range n {
		c := int(catPick.pick(r))
		if i < numCategories { // every category has products when possible
			c = i
		}
		w.prodCat[i] = uint8(c)
		w.catProds[c] = append(w.catProds[c], int32(i))
		// Popularity is heavy-tailed: a few best sellers.
		weights[i] = pareto(r, 1.1, 200)

		cat := categories[c]
		p := cat.min * math.Pow(cat.max/cat.min, r.Float64())
		cents := int64(math.Round(p * 100))
		switch v := r.Float64(); {
		case v < 0.6: // charm pricing
			cents = cents/100*100 + 99
		case v < 0.75:
			cents = max(100, (cents+50)/100*100)
		}
		w.prodCents[i] = cents

		w.prodOff = append(w.prodOff, uint32(len(w.prodFrag)))
		w.prodFrag = append(w.prodFrag, productIDPrefix+`"p`...)
		w.prodFrag = appendPadded(w.prodFrag, uint64(i), width)
		w.prodFrag = append(w.prodFrag, '"')
		w.prodOff = append(w.prodOff, uint32(len(w.prodFrag)))
		w.prodFrag = append(w.prodFrag, pricePrefix...)
		w.prodFrag = appendCents(w.prodFrag, cents)
	}
	w.prodOff = append(w.prodOff, uint32(len(w.prodFrag)))
	w.prodPick = newAlias(weights)
	for c, ps := range w.catProds {
		if len(ps) == 0 {
			continue
		}
		cw := make([]float64, len(ps))
		for j, p := range ps {
			cw[j] = weights[p]
		}
		w.catPick[c] = newAlias(cw)
	}
}

func (w *world) buildUsers(n int, exotic bool, r *rand.Rand) {
	width := max(6, len(strconv.Itoa(n-1)))
	w.users = make([]userTraits, n)
	w.userOff = make([]uint32, 0, n+1)
	w.userIDs = make([]byte, 0, n*(width+3))
	weights := make([]float64, n)
	var id []byte
	for i := range n {
		// Drawn for every user whatever the flag, so that ExoticUserIDs
		// changes the ids and nothing else.
		x := r.Float64()
		tmpl := r.IntN(len(exoticIDs))
		id = id[:0]
		if exotic && x < exoticShare {
			id = appendTemplate(id, exoticIDs[tmpl], i)
		} else {
			id = append(id, 'u')
			id = appendPadded(id, uint64(i), width)
		}
		start := len(w.userIDs)
		w.userOff = append(w.userOff, uint32(start))
		w.userIDs = appendJSONString(w.userIDs, string(id))
		qn := len(w.userIDs) - start
		if qn > 255 || len(id) > 255 {
			panic("generator: user id too long")
		}
		if string(w.userIDs[start+1:start+qn-1]) != string(id) {
			w.userIDs = append(w.userIDs, id...)
		}
		w.users[i] = userTraits{
			device:    uint8(w.devicePick.pick(r)),
			country:   uint8(w.countryPick.pick(r)),
			fav:       w.prodCat[w.prodPick.pick(r)],
			quotedLen: uint8(qn),
		}
		// Activity is heavy-tailed; the cap keeps the busiest users (about
		// 11× the mean) within what the session gap allows.
		weights[i] = pareto(r, 1.2, 40)
	}
	w.userOff = append(w.userOff, uint32(len(w.userIDs)))
	w.userPick = newAlias(weights)
}

// appendTemplate replaces the one %d of tmpl with i.
func appendTemplate(dst []byte, tmpl string, i int) []byte {
	for j := 0; j < len(tmpl); j++ {
		if tmpl[j] == '%' && j+1 < len(tmpl) && tmpl[j+1] == 'd' {
			dst = append(dst, tmpl[:j]...)
			dst = strconv.AppendInt(dst, int64(i), 10)
			return append(dst, tmpl[j+2:]...)
		}
	}
	return append(dst, tmpl...)
}

// pareto draws from a Pareto distribution with minimum 1 and tail index
// alpha, capped at limit.
func pareto(r *rand.Rand, alpha, limit float64) float64 {
	return min(limit, math.Pow(1-r.Float64(), -1/alpha))
}

// aliasTable samples an index with probability proportional to its weight
// in O(1) (Vose's alias method). An entry packs the threshold and the alias
// so that a pick touches one cache line.
type aliasTable struct {
	e []aliasEntry
}

type aliasEntry struct {
	thresh uint32 // keep the column if the low random word is below
	alias  int32
}

func newAlias(w []float64) aliasTable {
	n := len(w)
	var sum float64
	for _, x := range w {
		sum += x
	}
	t := aliasTable{e: make([]aliasEntry, n)}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s := small[len(small)-1]
		small = small[:len(small)-1]
		l := large[len(large)-1]
		t.e[s] = aliasEntry{thresh: uint32(max(0, scaled[s]) * (1 << 32)), alias: l}
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// Leftovers are 1 up to rounding: they alias themselves.
	for _, i := range large {
		t.e[i] = aliasEntry{thresh: math.MaxUint32, alias: i}
	}
	for _, i := range small {
		t.e[i] = aliasEntry{thresh: math.MaxUint32, alias: i}
	}
	return t
}

// pick uses one random word: the high half selects the column, the low half
// decides between it and its alias.
func (t *aliasTable) pick(r *rand.Rand) int32 {
	x := r.Uint64()
	i := int32((x >> 32) * uint64(len(t.e)) >> 32)
	if e := t.e[i]; uint32(x) >= e.thresh {
		return e.alias
	}
	return i
}
