package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

// mapProject is a project in memory; dbt_project.yml is added when absent.
func mapProject(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	if _, ok := files["dbt_project.yml"]; !ok {
		fsys["dbt_project.yml"] = &fstest.MapFile{Data: []byte("name: t\nversion: '1'\nconfig-version: 2\n")}
	}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func load(t testing.TB, files map[string]string) *Project {
	t.Helper()
	p, err := Load(mapProject(files))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var failingProject = map[string]string{
	"models/a.sql":     "{{ config(materialized='table') }}\nselect 1 as id union all select 1 as id\n",
	"models/b.sql":     "{{ config(materialized='table') }}\nselect id from {{ ref('a') }}\n",
	"models/c.sql":     "select id from {{ ref('b') }}\n",
	"models/other.sql": "{{ config(materialized='table') }}\nselect 2 as id\n",
	"models/schema.yml": `version: 2
models:
  - name: a
    columns:
      - name: id
        data_tests: [unique, not_null]
  - name: other
    columns:
      - name: id
        data_tests:
          - accepted_values:
              values: [3]
              quote: false
              config:
                severity: warn
`,
}

// TestBuildSkipsDownstreamOfAFailingTest: a failing test of a skips b and
// c, not the independent model; warnings skip nothing; build fails.
func TestBuildSkipsDownstreamOfAFailingTest(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	var out bytes.Buffer
	rep, err := Build(ctx, db, load(t, failingProject), WithOutput(&out), WithClock(fixedClock))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("build: err = %v, want ErrFailed\n%s", err, out.String())
	}
	want := map[string]Status{
		"a": StatusSuccess, "unique_a_id": StatusFail, "not_null_a_id": StatusPass,
		"b": StatusSkipped, "c": StatusSkipped,
		"other": StatusSuccess, "accepted_values_other_id__3": StatusWarn,
	}
	for name, st := range want {
		if res, ok := rep.Result(name); !ok || res.Status != st {
			t.Errorf("%s: %s, want %s\n%s", name, res.Status, st, out.String())
		}
	}
	if res, _ := rep.Result("b"); res.Message != "upstream test unique_a_id fail" {
		t.Errorf("b skipped because %q", res.Message)
	}
	log := out.String()
	for _, re := range []string{
		`(?m)^12:00:00  \d+ of 7 FAIL 1 unique_a_id \.+ \[FAIL 1 in \d+\.\d\ds\]$`,
		`(?m)^12:00:00  \d+ of 7 SKIP relation main\.b \.+ \[SKIP\]$`,
		`(?m)^12:00:00  \d+ of 7 OK created sql table model main\.a \.+ \[OK 2 rows in \d+\.\d\ds\]$`,
		`(?m)^12:00:00  \d+ of 7 WARN 1 accepted_values_other_id__3 \.+ \[WARN 1 in \d+\.\d\ds\]$`,
		`(?m)^12:00:00  Failure in test unique_a_id \(models/schema.yml\)$`,
		`(?m)^12:00:00    Got 1 result, configured to fail if != 0$`,
		`(?m)^12:00:00  Done\. PASS=3 WARN=1 ERROR=1 SKIP=2 TOTAL=7$`,
	} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("output does not match %s:\n%s", re, log)
		}
	}
	// The run history has a row per node.
	rows := queryRows(t, db, "SELECT status, count(*) FROM cartwheel_model_runs GROUP BY 1 ORDER BY 1")
	if got := fmt.Sprint(rows[1:]); got != "[[fail 1] [pass 1] [skipped 2] [success 2] [warn 1]]" {
		t.Errorf("history: %s", got)
	}
}

// TestRunErrorSkipsDownstream: a model whose SQL fails skips its
// dependents; the error names the model and the database's message.
func TestRunErrorSkipsDownstream(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	p := load(t, map[string]string{
		"models/bad.sql":  "select no_such_column from (select 1 as id)\n",
		"models/next.sql": "select * from {{ ref('bad') }}\n",
		"models/ok.sql":   "select 1 as id\n",
	})
	var out bytes.Buffer
	rep, err := Run(ctx, db, p, WithOutput(&out), WithRunHistory(false))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	if res, _ := rep.Result("bad"); res.Status != StatusError || !strings.Contains(res.Message, "no_such_column") {
		t.Errorf("bad: %s %q", res.Status, res.Message)
	}
	if res, _ := rep.Result("next"); res.Status != StatusSkipped {
		t.Errorf("next: %s", res.Status)
	}
	if res, _ := rep.Result("ok"); res.Status != StatusSuccess {
		t.Errorf("ok: %s", res.Status)
	}
	if !strings.Contains(out.String(), "Database Error in model bad (models/bad.sql)") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestSelection covers dbt's selector syntax.
func TestSelection(t *testing.T) {
	p := load(t, map[string]string{
		"models/staging/s1.sql": "{{ config(tags=['daily']) }}select 1 as id",
		"models/staging/s2.sql": "select 1 as id",
		"models/marts/m1.sql":   "select * from {{ ref('s1') }} join {{ ref('s2') }} using (id)",
		"models/marts/m2.sql":   "select * from {{ ref('m1') }}",
		"models/marts/m3.sql":   "select * from {{ ref('m2') }}",
		"models/x.sql":          "select 1 as id",
		"seeds/codes.csv":       "code\na\n",
		"models/schema.yml":     "version: 2\nmodels:\n  - name: m2\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
	})
	cases := []struct {
		sel, excl []string
		want      string
	}{
		{[]string{"m2"}, nil, "m2"},
		{[]string{"+m2"}, nil, "m1 m2 s1 s2"},
		{[]string{"m1+"}, nil, "m1 m2 m3 not_null_m2_id"},
		{[]string{"1+m2"}, nil, "m1 m2"},
		{[]string{"m1+1"}, nil, "m1 m2"},
		{[]string{"tag:daily"}, nil, "s1"},
		{[]string{"tag:daily+"}, nil, "m1 m2 m3 not_null_m2_id s1"},
		{[]string{"path:models/staging"}, nil, "s1 s2"},
		{[]string{"models/marts/m3.sql"}, nil, "m3"},
		{[]string{"s1 x"}, nil, "s1 x"},
		{[]string{"+m3,path:models/staging"}, nil, "s1 s2"},
		{[]string{"resource_type:seed"}, nil, "codes"},
		{[]string{"m*"}, []string{"m2"}, "m1 m3"},
		{nil, []string{"path:models/marts", "resource_type:test"}, "codes s1 s2 x"},
		{[]string{"@s1"}, nil, "m1 m2 m3 not_null_m2_id s1 s2"},
	}
	for _, c := range cases {
		var opts []Option
		opts = append(opts, WithSelect(c.sel...), WithExclude(c.excl...))
		nodes, err := List(p, opts...)
		if err != nil {
			t.Errorf("%v: %v", c.sel, err)
			continue
		}
		var names []string
		for _, n := range nodes {
			names = append(names, n.Name)
		}
		sortStrings(names)
		if got := strings.Join(names, " "); got != c.want {
			t.Errorf("select %q exclude %q = %q, want %q", c.sel, c.excl, got, c.want)
		}
	}
	if _, err := List(p, WithSelect("bogus:x")); err == nil || !strings.Contains(err.Error(), `unknown selector method "bogus"`) {
		t.Errorf("bogus selector: %v", err)
	}
}

// TestBuildRunsIndependentModelsInParallel: with four threads, four
// independent models run at once; with one, one at a time.
func TestBuildRunsIndependentModelsInParallel(t *testing.T) {
	files := map[string]string{}
	for i := range 4 {
		files[fmt.Sprintf("models/m%d.sql", i)] = "{{ config(materialized='table') }}select 1 as id"
	}
	p := load(t, files)
	for _, threads := range []int{1, 4} {
		db := &slowDB{DB: openDuckDB(t), delay: 100 * time.Millisecond}
		if _, err := Run(context.Background(), db, p, WithThreads(threads), WithRunHistory(false)); err != nil {
			t.Fatal(err)
		}
		if got := db.peak.Load(); got != int32(threads) {
			t.Errorf("threads=%d: peak concurrency %d", threads, got)
		}
	}
}

// TestBuildReportsProgress: the progress callback starts at 0 of the
// nodes the command executes and counts every node, skipped ones too.
func TestBuildReportsProgress(t *testing.T) {
	var got []string
	_, err := Build(context.Background(), openDuckDB(t), load(t, failingProject), WithRunHistory(false),
		WithProgress(func(done, total int) { got = append(got, fmt.Sprintf("%d/%d", done, total)) }))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("build: err = %v, want ErrFailed", err)
	}
	want := "[0/7 1/7 2/7 3/7 4/7 5/7 6/7 7/7]"
	if fmt.Sprint(got) != want {
		t.Errorf("progress %v, want %s", got, want)
	}
}

// slowDB delays CREATE TABLE … AS and records the peak concurrency.
type slowDB struct {
	DB
	delay    time.Duration
	inFlight atomic.Int32
	peak     atomic.Int32
	mu       sync.Mutex
}

func (s *slowDB) Exec(ctx context.Context, q string, args ...any) error {
	if strings.HasPrefix(q, "CREATE TABLE") && strings.Contains(q, " AS\n") {
		n := s.inFlight.Add(1)
		s.mu.Lock()
		if n > s.peak.Load() {
			s.peak.Store(n)
		}
		s.mu.Unlock()
		time.Sleep(s.delay)
		defer s.inFlight.Add(-1)
	}
	return s.DB.Exec(ctx, q, args...)
}

// TestTableSwapUnderConcurrentReaders: while a table model is rebuilt again
// and again, readers always see a whole table (the old one or the new one)
// and never an error.
func TestTableSwapUnderConcurrentReaders(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	p := load(t, map[string]string{
		"models/big.sql": "{{ config(materialized='table') }}select range as id from range(20000)",
		"models/inc.sql": "{{ config(materialized='incremental', unique_key='id') }}select range as id, {{ var('v', 0) }} as v from range(5000)",
	})
	if _, err := Run(ctx, db, p, WithRunHistory(false)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 8)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, q := range []string{"SELECT count(*) FROM big", "SELECT count(*), count(DISTINCT v) FROM inc"} {
					res, err := db.Query(ctx, q)
					if err != nil {
						errs <- err
						return
					}
					want := int64(20000)
					if strings.Contains(q, "inc") {
						want = 5000
						if d := res.Rows[0][1].(int64); d != 1 {
							errs <- fmt.Errorf("inc has %d versions of v at once", d)
							return
						}
					}
					if n := res.Rows[0][0].(int64); n != want {
						errs <- fmt.Errorf("%s = %d, want %d", q, n, want)
						return
					}
					reads.Add(1)
				}
			}
		}()
	}
	for i := range 10 {
		if _, err := Run(ctx, db, p, WithRunHistory(false), WithVars(map[string]any{"v": i})); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() == 0 {
		t.Error("no reads")
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
