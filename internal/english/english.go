// Package english holds the small wording helpers that command output
// shares.
package english

// Plural returns the suffix of a regular English noun counted n times: ""
// for one, "s" otherwise, as in fmt.Sprintf("%d row%s", n, Plural(n)).
func Plural[N ~int | ~int64](n N) string {
	if n == 1 {
		return ""
	}
	return "s"
}
