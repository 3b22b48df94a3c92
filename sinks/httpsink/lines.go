package httpsink

import "sync"

// lineIndex maps the records of one body back to the Writes they came
// from, so that a request the intake refuses for its content (400, 422,
// 413) can be split and only the offending records reported.
type lineIndex struct {
	// ends[i] is the offset just past record i in the body.
	ends []int32
	// owners are runs of consecutive records of one Write.
	owners []owner
}

// owner is a run of n consecutive records of a body that are the records
// first…first+n-1 of the Write of t.
type owner struct {
	t     *ticket
	first int
	n     int
}

var endsPool = sync.Pool{New: func() any { return new([]int32) }}

// add notes a record, the idx-th of t's Write, ending at offset end.
func (x *lineIndex) add(t *ticket, idx, end int) {
	if x.ends == nil {
		x.ends = (*endsPool.Get().(*[]int32))[:0]
	}
	x.ends = append(x.ends, int32(end))
	if k := len(x.owners) - 1; k >= 0 && x.owners[k].t == t && x.owners[k].first+x.owners[k].n == idx {
		x.owners[k].n++
		return
	}
	x.owners = append(x.owners, owner{t: t, first: idx, n: 1})
}

// release returns the index's buffers; x is empty afterwards.
func (x *lineIndex) release() {
	if x.ends != nil {
		e := x.ends[:0]
		endsPool.Put(&e)
	}
	*x = lineIndex{}
}

// part is a slice of a body with its records: body[start:end] holds the
// records whose ends are ends, rebased by start.
type part struct {
	start, end int
	ends       []int32 // absolute offsets in the whole body
	owners     []owner
}

// whole is the part covering every record of x.
func (x *lineIndex) whole() part {
	end := 0
	if n := len(x.ends); n > 0 {
		end = int(x.ends[n-1])
	}
	return part{start: 0, end: end, ends: x.ends, owners: x.owners}
}

// records is the number of records of p.
func (p part) records() int { return len(p.ends) }

// halves splits p (at least two records) into its first half of records
// and the rest.
func (p part) halves() (part, part) {
	k := len(p.ends) / 2
	cut := int(p.ends[k-1])
	a := part{start: p.start, end: cut, ends: p.ends[:k]}
	b := part{start: cut, end: p.end, ends: p.ends[k:]}
	left := k
	for i, o := range p.owners {
		if left == 0 {
			b.owners = append(b.owners, p.owners[i:]...)
			break
		}
		if o.n <= left {
			a.owners = append(a.owners, o)
			left -= o.n
			continue
		}
		a.owners = append(a.owners, owner{t: o.t, first: o.first, n: left})
		b.owners = append(b.owners, owner{t: o.t, first: o.first + left, n: o.n - left})
		b.owners = append(b.owners, p.owners[i+1:]...)
		left = 0
		break
	}
	return a, b
}

// reject marks every record of p refused with err.
func (p part) reject(err error) {
	for _, o := range p.owners {
		o.t.reject(err, o.first, o.n)
	}
}
