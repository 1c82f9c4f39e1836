package producer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// scanLines is the reference: bufio.Scanner with ScanLines and a buffer of
// at most max bytes, as File read files before lineReader.
func scanLines(in []byte, max int) ([]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(make([]byte, 0, 4), max)
	var out []string
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

// readLines reads in with a lineReader of the given limits, through r (a
// reader that may return short reads), keeping every line past the next
// call as File does.
func readLines(r io.Reader, max, chunkSize int) ([]string, error) {
	lr := newLineReader(r)
	lr.maxLine, lr.chunkBytes = max, chunkSize
	var held []*chunk
	var out []string
	for {
		b, c, ok := lr.next()
		if !ok {
			break
		}
		c.refs.Add(1)
		held = append(held, c)
		out = append(out, string(b))
	}
	lr.close()
	for _, c := range held {
		c.release()
	}
	return out, lr.err
}

func checkLines(t *testing.T, in []byte, max int) {
	t.Helper()
	want, werr := scanLines(in, max)
	for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in)), iotest.HalfReader(bytes.NewReader(in))} {
		got, err := readLines(r, max, 2*max+3)
		if (werr != nil) != (err != nil) || werr != nil && !errors.Is(err, errLineTooLong) {
			t.Fatalf("%q: error %v, bufio.Scanner's %v", in, err, werr)
		}
		if werr != nil {
			// bufio.Scanner stops at the long line: the lines before it agree.
			got = got[:min(len(got), len(want))]
		}
		if len(got) != len(want) {
			t.Fatalf("%q: lines %q, bufio.Scanner's %q", in, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: lines %q, bufio.Scanner's %q", in, got, want)
			}
		}
	}
}

// TestLineReaderMatchesScanner: lineReader splits lines as bufio.ScanLines
// does — "\n" and "\r\n" endings, a final line without one, empty lines —
// and fails on a line too long where bufio.Scanner does.
func TestLineReaderMatchesScanner(t *testing.T) {
	for _, in := range []string{
		"", "\n", "\n\n", "a", "a\n", "a\nb", "a\r\nb\r\n", "\r\n", "\r", "a\r", "a\rb\n",
		"12345678\n", "1234567\n", "123456\r\n", "1234567\r\n", "123456789\n", "abc\n12345678\nx",
		"1234567", "12345678", "123456789", "x\n" + "1234567\n1234567\n1234567\n", "  \n\t\n",
	} {
		checkLines(t, []byte(in), 8)
	}
}

// TestLineReaderReusesChunks: a chunk goes back to the pool once the
// reader and every line holder have let go of it, and not before.
func TestLineReaderReusesChunks(t *testing.T) {
	lr := newLineReader(bytes.NewReader(bytes.Repeat([]byte("abcdefg\n"), 100)))
	lr.maxLine, lr.chunkBytes = 16, 40
	b, c, ok := lr.next()
	if !ok || string(b) != "abcdefg" {
		t.Fatalf("first line %q, %v", b, ok)
	}
	c.refs.Add(1) // held, like a record not yet acknowledged
	for {
		if _, c2, ok := lr.next(); !ok || c2 != c {
			break
		}
	}
	if len(lr.pool) != 0 {
		t.Fatal("a chunk went back to the pool while a line of it was held")
	}
	c.release()
	if len(lr.pool) != 1 {
		t.Fatalf("pool holds %d chunks after the last holder let go, want 1", len(lr.pool))
	}
	if string(b) != "abcdefg" {
		t.Errorf("a held line changed: %q", b)
	}
	lr.close()
}

func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\n\r\nb\r", "1234567\n12345678\n", "x\n\n\n123456789"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkLines(t, in, 8)
	})
}
