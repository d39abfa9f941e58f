package tfeval

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"
)

// Functions are Terraform's functions that module blocks and this module
// use, with Terraform's semantics. templatefile is added by functions(),
// since a template may call every function but templatefile.
func baseFunctions() map[string]function.Function {
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "alltrue": allTrueFunc, "anytrue": anyTrueFunc,
		"base64decode": base64DecodeFunc, "base64encode": base64EncodeFunc, "base64sha256": base64SHA256Func,
		"can": tryfunc.CanFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc, "chunklist": stdlib.ChunklistFunc,
		"cidrhost": cidrHostFunc, "cidrnetmask": cidrNetmaskFunc, "coalesce": coalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"endswith": endsWithFunc, "file": fileFunc(false), "filebase64": fileFunc(true), "flatten": stdlib.FlattenFunc,
		"floor": stdlib.FloorFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"index": stdlib.IndexFunc, "indent": stdlib.IndentFunc, "join": stdlib.JoinFunc,
		"jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc,
		"length": lengthFunc, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
		"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "nonsensitive": identityFunc, "one": oneFunc,
		"parseint": stdlib.ParseIntFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "replace": replaceFunc, "reverse": stdlib.ReverseListFunc,
		"sensitive": identityFunc, "setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc,
		"setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc, "sha256": sha256Func,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc, "startswith": startsWithFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc,
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)), "tonumber": stdlib.MakeToFunc(cty.Number),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tostring": stdlib.MakeToFunc(cty.String),
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "try": tryfunc.TryFunc, "upper": stdlib.UpperFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
	}
}

// functions is the full table: the base functions and templatefile.
func functions() map[string]function.Function {
	f := baseFunctions()
	f["templatefile"] = templateFileFunc
	return f
}

// FunctionNames lists the functions the evaluator knows, for messages.
func FunctionNames() []string {
	var names []string
	for n := range functions() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RenderTemplate evaluates a template as Terraform's templatefile does:
// vars are its only variables, and it may call every function but
// templatefile. filename names it in errors.
func RenderTemplate(src []byte, filename string, vars map[string]cty.Value) (string, error) {
	expr, diags := hclsyntax.ParseTemplate(src, filename, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		return "", diagError(diags)
	}
	for _, t := range expr.Variables() {
		if _, ok := vars[t.RootName()]; !ok {
			return "", fmt.Errorf("%s: the template refers to %s, which its variables do not give", rangeString(t.SourceRange()), t.RootName())
		}
	}
	ctx := &hcl.EvalContext{Variables: vars, Functions: baseFunctions()}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return "", diagError(diags)
	}
	if !v.Type().Equals(cty.String) || v.IsNull() {
		return "", fmt.Errorf("%s: the template's result is %s, not a string", filename, v.Type().FriendlyName())
	}
	return v.AsString(), nil
}

var templateFileFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		path := args[0].AsString()
		src, err := os.ReadFile(path)
		if err != nil {
			return cty.NilVal, fmt.Errorf("reading the template %s: %w", path, err)
		}
		vars := map[string]cty.Value{}
		if ty := args[1].Type(); !ty.IsObjectType() && !ty.IsMapType() {
			return cty.NilVal, fmt.Errorf("the variables of templatefile(%q, ...) must be an object or a map, not %s", path, ty.FriendlyName())
		}
		for k, v := range args[1].AsValueMap() {
			vars[k] = v
		}
		out, err := RenderTemplate(src, path, vars)
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(out), nil
	},
})

func fileFunc(b64 bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := os.ReadFile(filepath.Clean(args[0].AsString()))
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", args[0].AsString(), err)
			}
			if b64 {
				return cty.StringVal(base64.StdEncoding.EncodeToString(b)), nil
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("%s is not UTF-8 text: use filebase64", args[0].AsString())
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

func stringFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(s), nil
		},
	})
}

var base64EncodeFunc = stringFunc(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil })

var base64DecodeFunc = stringFunc(func(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("base64decode: the string is not base64: %w", err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("base64decode: the decoded bytes are not UTF-8")
	}
	return string(b), nil
})

var sha256Func = stringFunc(func(s string) (string, error) {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:]), nil
})

var base64SHA256Func = stringFunc(func(s string) (string, error) {
	h := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(h[:]), nil
})

// coalesceFunc is Terraform's coalesce: the first argument that is neither
// null nor, for strings, empty.
var coalesceFunc = function.New(&function.Spec{
	VarParam: &function.Parameter{Name: "vals", Type: cty.DynamicPseudoType, AllowNull: true},
	Type: func(args []cty.Value) (cty.Type, error) {
		types := make([]cty.Type, len(args))
		for i, a := range args {
			types[i] = a.Type()
		}
		ty, _ := convert.UnifyUnsafe(types)
		if ty == cty.NilType {
			return cty.NilType, fmt.Errorf("coalesce: the arguments must all be of one type")
		}
		return ty, nil
	},
	Impl: func(args []cty.Value, ty cty.Type) (cty.Value, error) {
		for _, a := range args {
			v, err := convert.Convert(a, ty)
			if err != nil {
				return cty.NilVal, err
			}
			if v.IsNull() || (ty == cty.String && v.RawEquals(cty.StringVal(""))) {
				continue
			}
			return v, nil
		}
		return cty.NilVal, fmt.Errorf("coalesce: no non-null, non-empty argument")
	},
})

var identityFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true}},
	Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
})

func boolsFunc(all bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for _, v := range args[0].AsValueSlice() {
				if v.IsNull() {
					return cty.False, nil
				}
				if v.True() != all {
					return cty.BoolVal(!all), nil
				}
			}
			return cty.BoolVal(all), nil
		},
	})
}

var allTrueFunc, anyTrueFunc = boolsFunc(true), boolsFunc(false)

func affixFunc(has func(s, affix string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "affix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(has(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

var startsWithFunc, endsWithFunc = affixFunc(strings.HasPrefix), affixFunc(strings.HasSuffix)

// lengthFunc is Terraform's length: of a string (characters) or a collection.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

// replaceFunc is Terraform's replace: a substring wrapped in slashes is a
// regular expression.
var replaceFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}, {Name: "replace", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sub := args[1].AsString()
		if len(sub) > 1 && strings.HasPrefix(sub, "/") && strings.HasSuffix(sub, "/") {
			return stdlib.RegexReplace(args[0], cty.StringVal(sub[1:len(sub)-1]), args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})

var oneFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty.IsListType() || ty.IsSetType():
			return ty.ElementType(), nil
		case ty.IsTupleType() && len(ty.TupleElementTypes()) == 1:
			return ty.TupleElementTypes()[0], nil
		case ty.IsTupleType() && len(ty.TupleElementTypes()) == 0:
			return cty.DynamicPseudoType, nil
		}
		return cty.NilType, fmt.Errorf("one needs a list, set or tuple of at most one element, not %s", ty.FriendlyName())
	},
	Impl: func(args []cty.Value, ty cty.Type) (cty.Value, error) {
		vals := args[0].AsValueSlice()
		switch len(vals) {
		case 0:
			return cty.NullVal(ty), nil
		case 1:
			return vals[0], nil
		}
		return cty.NilVal, fmt.Errorf("one: the collection has %d elements, not at most one", len(vals))
	},
})

// cidrHostFunc is Terraform's cidrhost for IPv4 and IPv6: the hostnum-th
// address of the prefix (negative numbers count from its end).
var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("cidrhost: %q is not a CIDR prefix: %w", args[0].AsString(), err)
		}
		var num big.Int
		if err := gocty.FromCtyValue(args[1], &num); err != nil {
			return cty.NilVal, fmt.Errorf("cidrhost: the host number must be a whole number: %w", err)
		}
		p = p.Masked()
		bits := p.Addr().BitLen()
		size := new(big.Int).Lsh(big.NewInt(1), uint(bits-p.Bits()))
		if num.Sign() < 0 {
			num.Add(size, &num)
		}
		if num.Sign() < 0 || num.Cmp(size) >= 0 {
			return cty.NilVal, fmt.Errorf("cidrhost: prefix %s has no host number %s", p, args[1].AsBigFloat().String())
		}
		base := new(big.Int).SetBytes(p.Addr().AsSlice())
		sum := new(big.Int).Add(base, &num).FillBytes(make([]byte, bits/8))
		addr, _ := netip.AddrFromSlice(sum)
		return cty.StringVal(addr.Unmap().String()), nil
	},
})

// cidrNetmaskFunc is Terraform's cidrnetmask, for IPv4 prefixes.
var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil || !p.Addr().Is4() {
			return cty.NilVal, fmt.Errorf("cidrnetmask: %q is not an IPv4 CIDR prefix", args[0].AsString())
		}
		m := ^uint32(0) << (32 - p.Bits())
		if p.Bits() == 0 {
			m = 0
		}
		return cty.StringVal(netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()), nil
	},
})

// Functions is Terraform's function table as the evaluator has it, for
// tests that evaluate one of the module's expressions alone.
func Functions() map[string]function.Function { return functions() }
