package filter_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/filter"
)

func TestNullableFollowsDataFusion(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32}), Nullable: false},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	cases := []struct {
		expr string
		want bool
	}{
		{"5", false},
		{"'text'", false},
		{"id * 2", false},
		{"id * 2 + x", true},
		{"CAST(NULL AS int)", true},
		{"x IS NULL", false},
		{"coalesce(x, 0)", false},
		{"coalesce(x, NULL)", true},
		{"lower('A')", false},
		{"s.a + 1", false},
		{"tags[1]", true},
		{"CAST(id AS string)", false},
		{"id > 3 AND x < 2", true},
	}
	for _, c := range cases {
		e, err := filter.Parse(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		b, err := filter.Bind(e, sch)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if got := b.Nullable(sch); got != c.want {
			t.Errorf("Nullable(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}
