package event

import "strconv"

// Decoder decodes event records. It is not safe for concurrent use; give each
// goroutine its own.
type Decoder struct {
	s scanner
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	return &Decoder{}
}

// Decode parses and validates one record value. nowMicros is the wall clock
// at ingestion, for the future-time rule. A rejected record yields a
// *RejectError. The strings of the returned Event may alias value.
func (d *Decoder) Decode(value []byte, nowMicros int64) (Event, error) {
	s := &d.s
	s.b, s.i = value, 0
	s.fields = [nFields]raw{}
	if err := s.object(); err != nil {
		return Event{}, err
	}
	return s.event(nowMicros)
}

// event validates the scanned members (spec §1) in a fixed order: missing
// required fields, wrong JSON types, unknown event type, fields required by
// the type, values, future time.
func (s *scanner) event(nowMicros int64) (Event, error) {
	f := &s.fields
	for _, req := range [...]field{fEventID, fEventType, fUserID, fEventTime} {
		if k := f[req].kind; k == kAbsent || k == kNull {
			return Event{}, reject(MissingField, "%s is missing", fieldNames[req])
		}
	}
	for i := fEventID; i < nFields; i++ {
		want := kString
		if i == fPrice || i == fQuantity {
			want = kNumber
		}
		if k := f[i].kind; k != kAbsent && k != kNull && k != want {
			return Event{}, reject(InvalidValue, "%s must be %s, got %s", fieldNames[i], kindNames[want], kindNames[k])
		}
	}
	var e Event
	switch f[fEventType].text {
	case "page_view":
		e.Type = PageView
	case "add_to_cart":
		e.Type = AddToCart
	case "purchase":
		e.Type = Purchase
	default:
		return Event{}, reject(UnknownEventType, "event_type %s is not page_view, add_to_cart or purchase", quote(f[fEventType].text, 64))
	}
	if e.Type != PageView {
		for _, req := range [...]field{fProductID, fPrice} {
			if k := f[req].kind; k == kAbsent || k == kNull {
				return Event{}, reject(MissingField, "%s is required for %s", fieldNames[req], e.Type)
			}
		}
	}

	var err *RejectError
	if e.EventID, err = s.text(fEventID, 1, MaxEventIDBytes); err != nil {
		return Event{}, err
	}
	if e.UserID, err = s.text(fUserID, 1, MaxUserIDBytes); err != nil {
		return Event{}, err
	}
	t := f[fEventTime].text
	us, ok := parseTimestamp(t)
	if !ok {
		return Event{}, reject(InvalidValue, "event_time %s is not an RFC 3339 / ISO 8601 date-time", quote(t, 64))
	}
	e.Time = us
	if f[fPrice].kind == kNumber {
		cents, ok := parseCents(f[fPrice].text)
		if !ok || cents < 0 || cents > MaxPriceCents {
			return Event{}, reject(InvalidValue, "price %s is not a number between 0 and 1000000", quote(f[fPrice].text, 32))
		}
		e.Price = cents
		e.Has |= HasPrice
	}
	e.Quantity = 1
	if f[fQuantity].kind == kNumber {
		q, ok := parseInteger(f[fQuantity].text)
		if !ok || q < 1 || q > MaxQuantity {
			return Event{}, reject(InvalidValue, "quantity %s is not an integer between 1 and 1000", quote(f[fQuantity].text, 32))
		}
		e.Quantity = int32(q)
	}
	for _, o := range [...]struct {
		f   field
		bit uint16
		dst *string
	}{
		{fProductID, HasProductID, &e.ProductID},
		{fSessionID, HasClientSessionID, &e.ClientSessionID},
		{fDevice, HasDevice, &e.Device},
		{fCountry, HasCountry, &e.Country},
		{fCategory, HasCategory, &e.Category},
		{fReferrer, HasReferrer, &e.Referrer},
	} {
		if f[o.f].kind != kString {
			continue
		}
		v, err := s.text(o.f, 0, MaxTextBytes)
		if err != nil {
			return Event{}, err
		}
		*o.dst = v
		e.Has |= o.bit
	}
	if e.Time > nowMicros+FutureTolerance.Microseconds() {
		// The ingestion clock is the record's received_at, not repeated
		// here: the detail depends on the record alone.
		return Event{}, reject(FutureEventTime, "event_time %s is more than 24h ahead of the ingestion clock",
			TimeOf(e.Time).Format(timeLayout))
	}
	return e, nil
}

const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

// text returns a string member checked for length and NUL characters (which
// PostgreSQL cannot store).
func (s *scanner) text(f field, minLen, maxLen int) (string, *RejectError) {
	r := s.fields[f]
	switch {
	case len(r.text) < minLen:
		return "", reject(InvalidValue, "%s is empty", fieldNames[f])
	case len(r.text) > maxLen:
		return "", reject(InvalidValue, "%s is %d bytes, more than %d", fieldNames[f], len(r.text), maxLen)
	case r.nul:
		return "", reject(InvalidValue, "%s contains a NUL character", fieldNames[f])
	}
	return r.text, nil
}

// quote renders a value for an error detail, shortened to max bytes.
func quote(v string, max int) string {
	if len(v) > max {
		v = v[:max] + "…"
	}
	return strconv.Quote(v)
}
