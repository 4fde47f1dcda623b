package compliance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

// stream writes one JSON document piece by piece, so that arrays of any
// length can be written from an iterator. The first error sticks: later
// calls do nothing and err returns it.
type stream struct {
	w     *bufio.Writer
	buf   bytes.Buffer
	enc   *json.Encoder
	first []bool // per open container: no member written yet
	err   error
}

func newStream(w io.Writer) *stream {
	s := &stream{w: bufio.NewWriterSize(w, 64<<10)}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

func (s *stream) raw(b string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(b)
	}
}

// sep writes the comma before a member of the innermost container; array
// elements start on a line of their own, so large documents stay
// line-oriented.
func (s *stream) sep(array bool) {
	if n := len(s.first); n > 0 {
		if !s.first[n-1] {
			s.raw(",")
		}
		s.first[n-1] = false
	}
	if array {
		s.raw("\n")
	}
}

func (s *stream) open(b string) {
	s.raw(b)
	s.first = append(s.first, true)
}

func (s *stream) close(b string) {
	s.first = s.first[:len(s.first)-1]
	s.raw(b)
}

// beginObject opens the top-level object.
func (s *stream) beginObject() { s.open("{") }

// endObject closes the innermost object.
func (s *stream) endObject() { s.close("}") }

// key writes the name of the next member of the innermost object.
func (s *stream) key(name string) {
	s.sep(false)
	s.value(name)
	s.raw(":")
}

// field writes one member of the innermost object.
func (s *stream) field(name string, v any) {
	s.key(name)
	s.value(v)
}

// objectField opens an object as a member of the innermost object.
func (s *stream) objectField(name string) {
	s.key(name)
	s.open("{")
}

// arrayField opens an array as a member of the innermost object.
func (s *stream) arrayField(name string) {
	s.key(name)
	s.open("[")
}

// elem writes one element of the innermost array.
func (s *stream) elem(v any) {
	s.sep(true)
	s.value(v)
}

// endArray closes the innermost array.
func (s *stream) endArray() { s.close("\n]") }

func (s *stream) value(v any) {
	if s.err != nil {
		return
	}
	s.buf.Reset()
	if s.err = s.enc.Encode(v); s.err != nil {
		return
	}
	b := s.buf.Bytes()
	_, s.err = s.w.Write(b[:len(b)-1]) // without Encode's newline
}

// flush writes what is buffered and returns the first error.
func (s *stream) flush() error {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}
