package simhttp

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// protocol is what differs between awsQuery (Auto Scaling) and ec2Query.
type protocol struct {
	service   string
	namespace string
	// listKey names the i-th element (from 1) of the list at key.
	listKey func(key string, i int) string
	// item names the XML element of each list member.
	item string
	// requestName and responseName give the wire name of a field.
	requestName, responseName func(typ, field string) string
	// badParam is the error code of a malformed parameter.
	badParam string
}

var awsQuery = &protocol{
	service:      "autoscaling",
	namespace:    "http://autoscaling.amazonaws.com/doc/2011-01-01/",
	listKey:      func(key string, i int) string { return key + ".member." + strconv.Itoa(i) },
	item:         "member",
	requestName:  func(_, field string) string { return field },
	responseName: func(_, field string) string { return field },
	badParam:     "ValidationError",
}

// iamQuery is IAM's: the Auto Scaling query shape, its own namespace.
var iamQuery = &protocol{
	service:      "iam",
	namespace:    "https://iam.amazonaws.com/doc/2010-05-08/",
	listKey:      func(key string, i int) string { return key + ".member." + strconv.Itoa(i) },
	item:         "member",
	requestName:  func(_, field string) string { return field },
	responseName: func(_, field string) string { return field },
	badParam:     "ValidationError",
}

var ec2Query = &protocol{
	service:      "ec2",
	namespace:    "http://ec2.amazonaws.com/doc/2016-11-15/",
	listKey:      func(key string, i int) string { return key + "." + strconv.Itoa(i) },
	item:         "item",
	requestName:  tableName(ec2RequestNames, func(f string) string { return f }),
	responseName: tableName(ec2ResponseNames, func(f string) string { return strings.ToLower(f[:1]) + f[1:] }),
	badParam:     "InvalidParameterValue",
}

func tableName(t map[string]map[string]string, fallback func(string) string) func(typ, field string) string {
	return func(typ, field string) string {
		if n, ok := t[typ][field]; ok {
			return n
		}
		return fallback(field)
	}
}

// maxListLen bounds the lists a request may carry, so a hostile request
// cannot make the decoder loop for long.
const maxListLen = 1000

var (
	timeType = reflect.TypeOf(time.Time{})
	// skippedTypes are SDK bookkeeping fields, not part of the wire shape.
	skippedTypes = map[reflect.Type]bool{reflect.TypeOf(middleware.Metadata{}): true}
)

// decoder fills an SDK input struct from form values.
type decoder struct {
	p        *protocol
	form     url.Values
	prefixes map[string]bool // every dotted prefix of every key
}

func decode(p *protocol, form url.Values, into any) error {
	d := &decoder{p: p, form: form, prefixes: map[string]bool{}}
	for k := range form {
		for i := range len(k) {
			if k[i] == '.' {
				d.prefixes[k[:i]] = true
			}
		}
		d.prefixes[k] = true
	}
	return d.value("", reflect.ValueOf(into).Elem())
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (d *decoder) value(key string, v reflect.Value) error {
	t := v.Type()
	switch {
	case t == timeType:
		s := d.form.Get(key)
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return d.bad(key, s)
		}
		v.Set(reflect.ValueOf(tm))
		return nil
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || skippedTypes[f.Type] {
				continue
			}
			k := join(key, d.p.requestName(t.Name(), f.Name))
			if !d.prefixes[k] {
				continue
			}
			if err := d.field(k, v.Field(i)); err != nil {
				return err
			}
		}
		return nil
	}
	return d.field(key, v)
}

func (d *decoder) field(key string, v reflect.Value) error {
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		n := reflect.New(t.Elem())
		if err := d.value(key, n.Elem()); err != nil {
			return err
		}
		v.Set(n)
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // blob
			b, err := base64.StdEncoding.DecodeString(d.form.Get(key))
			if err != nil {
				return d.bad(key, d.form.Get(key))
			}
			v.SetBytes(b)
			return nil
		}
		s := reflect.MakeSlice(t, 0, 0)
		for i := 1; d.prefixes[d.p.listKey(key, i)]; i++ {
			if i > maxListLen {
				return &paramError{code: d.p.badParam, msg: fmt.Sprintf("The list %s has more than %d members.", key, maxListLen)}
			}
			e := reflect.New(t.Elem()).Elem()
			if err := d.value(d.p.listKey(key, i), e); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		v.Set(s)
		return nil
	case reflect.Struct:
		return d.value(key, v)
	}
	raw := d.form.Get(key)
	switch t.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return d.bad(key, raw)
		}
		v.SetBool(b)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		n, err := strconv.ParseInt(raw, 10, t.Bits())
		if err != nil {
			return d.bad(key, raw)
		}
		v.SetInt(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(raw, t.Bits())
		if err != nil {
			return d.bad(key, raw)
		}
		v.SetFloat(n)
	default:
		return &paramError{code: d.p.badParam, msg: fmt.Sprintf("The parameter %s is not supported by this simulator.", key)}
	}
	return nil
}

func (d *decoder) bad(key, raw string) error {
	return &paramError{code: d.p.badParam, msg: fmt.Sprintf("Value (%s) for parameter %s is invalid.", raw, key)}
}

type paramError struct{ code, msg string }

func (e *paramError) Error() string { return e.code + ": " + e.msg }

// encoder writes an SDK output struct as XML elements.
type encoder struct {
	p *protocol
	b *strings.Builder
}

func (e *encoder) fields(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || skippedTypes[f.Type] {
			continue
		}
		e.value(e.p.responseName(t.Name(), f.Name), v.Field(i))
	}
}

func (e *encoder) value(name string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		e.value(name, v.Elem())
		return
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.leaf(name, base64.StdEncoding.EncodeToString(v.Bytes()))
			return
		}
		if v.Len() == 0 {
			e.b.WriteString("<" + name + "/>")
			return
		}
		e.b.WriteString("<" + name + ">")
		for i := range v.Len() {
			e.value(e.p.item, v.Index(i))
		}
		e.b.WriteString("</" + name + ">")
		return
	case reflect.Struct:
		if v.Type() == timeType {
			e.leaf(name, v.Interface().(time.Time).UTC().Format("2006-01-02T15:04:05.000Z"))
			return
		}
		e.b.WriteString("<" + name + ">")
		e.fields(v)
		e.b.WriteString("</" + name + ">")
		return
	case reflect.String:
		if v.String() == "" && v.Type().Name() != "string" {
			return // an unset enum
		}
		e.leaf(name, v.String())
	case reflect.Bool:
		e.leaf(name, strconv.FormatBool(v.Bool()))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		e.leaf(name, strconv.FormatInt(v.Int(), 10))
	case reflect.Float32, reflect.Float64:
		e.leaf(name, strconv.FormatFloat(v.Float(), 'f', -1, 64))
	}
}

func (e *encoder) leaf(name, text string) {
	e.b.WriteString("<" + name + ">")
	escape(e.b, text)
	e.b.WriteString("</" + name + ">")
}

func escape(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}
