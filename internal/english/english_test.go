package english

import "testing"

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "s"}, {1, ""}, {2, "s"}, {-1, "s"}} {
		if got := Plural(c.n); got != c.want {
			t.Errorf("Plural(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := Plural(1); got != "" {
		t.Errorf("Plural(int 1) = %q", got)
	}
}
