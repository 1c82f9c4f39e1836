package producer

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
)

// chunkBytes is the size of the chunks lineReader reads into: at least
// twice maxLine, so that a partial line carried over to a fresh chunk
// always leaves room for the rest of it.
const chunkBytes = 4 << 20

// maxLine is the longest line, with its "\n", that lineReader returns:
// MaxRecordBytes of content plus "\r\n".
const maxLine = MaxRecordBytes + 2

// errLineTooLong ends a read at a line longer than maxLine (see scanErr).
var errLineTooLong = errors.New("line too long")

// chunk is a piece of the input that returned lines point into. It counts
// its users — the reader while it reads into it, and each record produced
// from it until the record is acknowledged — and goes back to its pool
// when the last one is done.
type chunk struct {
	buf  []byte
	refs atomic.Int64
	pool chan []byte
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		select {
		case c.pool <- c.buf[:cap(c.buf)]:
		default: // the pool is full: leave it to the garbage collector
		}
	}
}

// lineReader splits its input into lines as bufio.ScanLines does (a final
// line need not end in "\n"; a "\r" before the "\n" is dropped), but
// without copying them: a line is a slice of the chunk it was read into,
// valid while the chunk is held (chunk.refs).
type lineReader struct {
	r          io.Reader
	maxLine    int // maxLine, but for tests
	chunkBytes int // chunkBytes, but for tests
	cur        *chunk
	start, end int // the unread bytes: cur.buf[start:end]
	eof        bool
	err        error
	pool       chan []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: r, maxLine: maxLine, chunkBytes: chunkBytes, pool: make(chan []byte, 16)}
}

// next returns the next line and the chunk it points into, or ok false at
// the end of the input or at an error (lr.err, nil at the end). The caller
// must take a reference (chunk.refs.Add) to keep the line past the next
// call.
func (lr *lineReader) next() (line []byte, c *chunk, ok bool) {
	for {
		if lr.cur != nil {
			data := lr.cur.buf[lr.start:lr.end]
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				if i+1 > lr.maxLine {
					lr.err = errLineTooLong
					return nil, nil, false
				}
				lr.start += i + 1
				return dropCR(data[:i]), lr.cur, true
			}
			if len(data) >= lr.maxLine {
				lr.err = errLineTooLong
				return nil, nil, false
			}
			if lr.eof {
				if len(data) == 0 {
					return nil, nil, false
				}
				lr.start = lr.end
				return dropCR(data), lr.cur, true
			}
		}
		if lr.err != nil || lr.eof {
			return nil, nil, false
		}
		lr.fill()
	}
}

// fill reads more input, into a fresh chunk when the current one has no
// room left for a whole line (the unfinished line moves with it).
func (lr *lineReader) fill() {
	if lr.cur == nil || len(lr.cur.buf)-lr.end < lr.maxLine {
		var buf []byte
		select {
		case buf = <-lr.pool:
		default:
			buf = make([]byte, lr.chunkBytes)
		}
		c := &chunk{buf: buf, pool: lr.pool}
		c.refs.Store(1) // the reader's
		n := 0
		if lr.cur != nil {
			n = copy(buf, lr.cur.buf[lr.start:lr.end])
			lr.cur.release()
		}
		lr.cur, lr.start, lr.end = c, 0, n
	}
	n, err := lr.r.Read(lr.cur.buf[lr.end:])
	lr.end += n
	switch {
	case err == io.EOF:
		lr.eof = true
	case err != nil:
		lr.err = err
	}
}

// close releases the reader's hold on its chunk.
func (lr *lineReader) close() {
	if lr.cur != nil {
		lr.cur.release()
		lr.cur = nil
	}
}

func dropCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
