package event

// parseTimestamp parses an RFC 3339 / ISO 8601 date-time in extended format:
// YYYY-MM-DD, 'T' (or 't' or a space), hh:mm[:ss[.fraction]], then an
// optional offset Z, ±hh:mm, ±hhmm or ±hh. No offset means UTC. Fractions
// beyond microseconds are truncated. It returns microseconds since the epoch.
func parseTimestamp(s string) (int64, bool) {
	if len(s) < 16 || s[4] != '-' || s[7] != '-' || s[13] != ':' {
		return 0, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || year < 1 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 {
		return 0, false
	}
	i := 16
	var second, micros int64
	if i < len(s) && s[i] == ':' {
		if len(s) < i+3 {
			return 0, false
		}
		sec, ok := digits(s[i+1 : i+3])
		if !ok || sec > 59 {
			return 0, false
		}
		second = int64(sec)
		i += 3
		if i < len(s) && (s[i] == '.' || s[i] == ',') {
			i++
			start := i
			scale := int64(100000)
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				micros += int64(s[i]-'0') * scale
				scale /= 10
				i++
			}
			if i == start {
				return 0, false
			}
		}
	}
	var offset int64 // seconds east of UTC
	if i < len(s) {
		switch s[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := int64(1)
			if s[i] == '-' {
				sign = -1
			}
			rest := s[i+1:]
			var oh, om int
			var ok bool
			switch {
			case len(rest) == 2:
				oh, ok = digits(rest)
			case len(rest) == 4:
				var ok2 bool
				oh, ok = digits(rest[:2])
				om, ok2 = digits(rest[2:])
				ok = ok && ok2
			case len(rest) == 5 && rest[2] == ':':
				var ok2 bool
				oh, ok = digits(rest[:2])
				om, ok2 = digits(rest[3:])
				ok = ok && ok2
			}
			if !ok || oh > 23 || om > 59 {
				return 0, false
			}
			offset = sign * int64(oh*3600+om*60)
			i = len(s)
		default:
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60) + second - offset
	return secs*1_000_000 + micros, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// decimal is a JSON number literal split into its significant digits (no
// leading zeros) and a power of ten: value = digits × 10^exp.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// splitNumber splits a literal already validated by the scanner.
func splitNumber(s string) decimal {
	var d decimal
	i := 0
	if s[0] == '-' {
		d.neg = true
		i++
	}
	buf := make([]byte, 0, 24)
	frac := 0
	inFrac := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			inFrac = true
			continue
		}
		if c == 'e' || c == 'E' {
			break
		}
		if inFrac {
			frac++
		}
		if c == '0' && len(buf) == 0 {
			continue
		}
		buf = append(buf, c)
	}
	exp := 0
	if i < len(s) {
		i++
		sign := 1
		if s[i] == '+' || s[i] == '-' {
			if s[i] == '-' {
				sign = -1
			}
			i++
		}
		for ; i < len(s); i++ {
			if exp < 1_000_000 {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		exp *= sign
	}
	// Trailing zeros only shift the exponent.
	for len(buf) > 0 && buf[len(buf)-1] == '0' {
		buf = buf[:len(buf)-1]
		exp++
	}
	d.digits = string(buf)
	d.exp = exp - frac
	return d
}

// parseCents converts a non-negative number literal to cents, rounding half
// up like a cast to DECIMAL(12,2). ok is false for negative values and for
// values that do not fit.
func parseCents(s string) (int64, bool) {
	d := splitNumber(s)
	if d.digits == "" {
		return 0, true
	}
	if d.neg {
		return 0, false
	}
	shift := d.exp + 2 // value in cents = digits × 10^shift
	var keep string
	roundUp := false
	if shift >= 0 {
		if len(d.digits)+shift > 15 {
			return 0, false
		}
		keep = d.digits
	} else {
		n := len(d.digits) + shift
		switch {
		case n < 0:
			return 0, true
		case n == 0:
			roundUp = d.digits[0] >= '5'
		default:
			keep = d.digits[:n]
			roundUp = d.digits[n] >= '5'
		}
		shift = 0
		if len(keep) > 15 {
			return 0, false
		}
	}
	var v int64
	for i := 0; i < len(keep); i++ {
		v = v*10 + int64(keep[i]-'0')
	}
	for ; shift > 0; shift-- {
		v *= 10
	}
	if roundUp {
		v++
	}
	return v, true
}

// parseInteger converts a number literal with an integral value (2, 2.0,
// 2e0) to int64; ok is false for fractions and values beyond ±10^15.
func parseInteger(s string) (int64, bool) {
	d := splitNumber(s)
	if d.digits == "" {
		return 0, true
	}
	if d.exp < 0 || len(d.digits)+d.exp > 15 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(d.digits); i++ {
		v = v*10 + int64(d.digits[i]-'0')
	}
	for e := d.exp; e > 0; e-- {
		v *= 10
	}
	if d.neg {
		v = -v
	}
	return v, true
}
