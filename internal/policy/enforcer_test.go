package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnforce(t *testing.T) {
	e, err := New(append(BaseDefaults(),
		Default{Name: "cycle_a", Check: "rule:cycle_b"},
		Default{Name: "cycle_b", Check: "role:x or rule:cycle_a"},
		Default{Name: "not_self", Check: "not rule:not_self"},
		Default{Name: "uses_cycle", Check: "@ or rule:cycle_a"},
		Default{Name: "unknown_ref", Check: "rule:nope"},
		Default{Name: "not_unknown", Check: "not rule:nope"},
		Default{Name: "diamond", Check: "rule:owner and rule:owner and not rule:admin_required"},
	))
	if err != nil {
		t.Fatal(err)
	}
	admin := map[string]any{"roles": []string{"Admin"}, "user_id": "u1"}
	member := map[string]any{"roles": []any{"member", "reader"}, "user_id": "u1", "project_id": "p1"}
	tests := []struct {
		name   string
		check  string // evaluated as rule "t" when not empty
		rule   string // otherwise this rule
		target map[string]any
		creds  map[string]any
		want   bool
	}{
		{name: "always", check: "@", want: true},
		{name: "empty always", check: "", want: true},
		{name: "never", check: "!", creds: admin},
		{name: "role case-insensitive", check: "role:ADMIN", creds: admin, want: true},
		{name: "role missing", check: "role:admin", creds: member},
		{name: "role any element", check: "role:reader", creds: member, want: true},
		{name: "no roles key", check: "role:admin", creds: map[string]any{}},
		{name: "role from target", check: "role:%(r)s", target: map[string]any{"r": "Member"}, creds: member, want: true},
		{name: "role target missing", check: "role:%(r)s", creds: member},
		{name: "admin_required", rule: "admin_required", creds: admin, want: true},
		{name: "admin_or_owner as owner", rule: "admin_or_owner", target: map[string]any{"user_id": "u1"}, creds: member, want: true},
		{name: "admin_or_owner stranger", rule: "admin_or_owner", target: map[string]any{"user_id": "u2"}, creds: member},
		{name: "precedence or-and", check: "role:admin or role:member and role:nope", creds: member},
		{name: "precedence and-or", check: "role:nope and role:member or role:reader", creds: member, want: true},
		{name: "not binds tight", check: "not role:admin and role:member", creds: member, want: true},
		{name: "not over parens", check: "not (role:admin or role:member)", creds: member},
		{name: "nested parens", check: "((role:x or (role:member and (role:y or role:reader))))", creds: member, want: true},
		{name: "project match", check: ProjectMember, target: map[string]any{"project_id": "p1"}, creds: member, want: true},
		{name: "project mismatch", check: ProjectMember, target: map[string]any{"project_id": "p2"}, creds: member},
		{name: "target key missing", check: "project_id:%(project_id)s", creds: member},
		{name: "creds key missing", check: "domain_id:%(project_id)s", target: map[string]any{"project_id": "p1"}, creds: member},
		{name: "flat dotted target key", check: "project_id:%(target.project.id)s",
			target: map[string]any{"target.project.id": "p1"}, creds: member, want: true},
		{name: "nested dotted target key", check: "project_id:%(target.project.id)s",
			target: map[string]any{"target": map[string]any{"project": map[string]any{"id": "p1"}}}, creds: member, want: true},
		{name: "flat key wins", check: "project_id:%(target.project.id)s",
			target: map[string]any{"target.project.id": "p1", "target": map[string]any{"project": map[string]any{"id": "p2"}}}, creds: member, want: true},
		{name: "dotted creds key", check: "token.is_admin_project:True",
			creds: map[string]any{"token": map[string]any{"is_admin_project": true}}, want: true},
		{name: "dotted creds key false", check: "token.is_admin_project:True",
			creds: map[string]any{"token": map[string]any{"is_admin_project": false}}},
		{name: "dotted creds through list", check: "groups.name:ops",
			creds: map[string]any{"groups": []any{map[string]any{"name": "dev"}, map[string]any{"name": "ops"}}}, want: true},
		{name: "dotted creds not a map", check: "user_id.x:u1", creds: member},
		{name: "bool vs quoted True", check: "is_admin:'True'", creds: map[string]any{"is_admin": true}, want: true},
		{name: "bool vs False", check: "is_admin:False", creds: map[string]any{"is_admin": false}, want: true},
		{name: "bool is not 1", check: "is_admin:1", creds: map[string]any{"is_admin": true}},
		{name: "int", check: "is_admin:1", creds: map[string]any{"is_admin": 1}, want: true},
		{name: "json float as int", check: "count:3", creds: map[string]any{"count": 3.0}, want: true},
		{name: "float", check: "ratio:0.5", creds: map[string]any{"ratio": 0.5}, want: true},
		{name: "quoted value", check: "name:'alice'", creds: map[string]any{"name": "alice"}, want: true},
		{name: "literal kind", check: "'public':%(visibility)s", target: map[string]any{"visibility": "public"}, want: true},
		{name: "literal kind mismatch", check: "'public':%(visibility)s", target: map[string]any{"visibility": "private"}},
		{name: "None literal", check: "None:%(target.role.domain_id)s", target: map[string]any{"target.role.domain_id": nil}, want: true},
		{name: "True literal from target", check: "True:%(all_tenants)s", target: map[string]any{"all_tenants": true}, want: true},
		{name: "int literal kind", check: "1:%(n)s", target: map[string]any{"n": 1}, want: true},
		{name: "creds list leaf", check: "tags:blue", creds: map[string]any{"tags": []string{"red", "blue"}}, want: true},
		{name: "percent escape", check: "quota:100%%", creds: map[string]any{"quota": "100%"}, want: true},
		{name: "cycle denies", rule: "cycle_a", creds: member},
		{name: "cycle denies even when satisfiable", rule: "cycle_b", creds: map[string]any{"roles": []string{"x"}}, want: true},
		{name: "cycle under not denies", rule: "not_self", creds: member},
		{name: "cycle not reached", rule: "uses_cycle", creds: member, want: true},
		{name: "reference to unknown rule", rule: "unknown_ref", creds: admin},
		{name: "not unknown rule", rule: "not_unknown", creds: admin, want: true},
		{name: "repeated references", rule: "diamond", target: map[string]any{"user_id": "u1"}, creds: member, want: true},
		{name: "unknown rule", rule: "identity:nope", creds: admin},
		{name: "nil maps", check: "role:admin or project_id:%(project_id)s or a.b:c"},
		{name: "odd creds types", check: "roles.x:1 or user_id:%(x)s",
			target: map[string]any{"x": []any{[]any{1}}}, creds: map[string]any{"roles": "admin", "user_id": struct{}{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e
			name := tt.rule
			if name == "" {
				name = "t"
				var err error
				if e, err = New([]Default{{Name: "t", Check: tt.check}}); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.Enforce(name, tt.target, tt.creds); got != tt.want {
				t.Errorf("Enforce(%s) = %v, want %v", name, got, tt.want)
			}
		})
	}
}

func TestCycleBWithoutRole(t *testing.T) {
	// cycle_b's first branch fails, so evaluation reaches cycle_a and comes
	// back to cycle_b: the whole call must deny, not loop.
	e, err := New([]Default{
		{Name: "a", Check: "rule:b"},
		{Name: "b", Check: "role:x or rule:a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.Enforce("b", nil, map[string]any{"roles": []string{"y"}}) {
		t.Error("Enforce(b) in a cycle = true, want false")
	}
}

func TestDefaultFallback(t *testing.T) {
	e, err := New([]Default{{Name: "x", Check: "!"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Enforce("missing", nil, nil) {
		t.Error("unknown rule without a default rule allowed")
	}
	if err := e.LoadBytes([]byte(`default: "@"`)); err != nil {
		t.Fatal(err)
	}
	if !e.Enforce("missing", nil, nil) {
		t.Error("unknown rule did not fall back to the default rule")
	}
	if e.Enforce("x", nil, nil) {
		t.Error("known rule fell back to the default rule")
	}
}

func TestNewRejectsBadDefaults(t *testing.T) {
	for _, defaults := range [][]Default{
		{{Name: "a", Check: "role:"}},
		{{Name: "a", Check: "@"}, {Name: "a", Check: "!"}},
	} {
		if _, err := New(defaults); err == nil {
			t.Errorf("New(%v) succeeded, want an error", defaults)
		}
	}
}

func TestLoad(t *testing.T) {
	base := []Default{
		{Name: "admin_required", Check: "role:admin"},
		{Name: "get", Check: "rule:admin_required"},
	}
	tests := []struct {
		name    string
		file    string
		want    map[string]string
		wantErr bool
	}{
		{
			name: "yaml override and add",
			file: "# operator\nadmin_required: role:cloud_admin\n\"new\": \"role:x\"\n",
			want: map[string]string{"admin_required": "role:cloud_admin", "get": "rule:admin_required", "new": "role:x"},
		},
		{
			name: "json",
			file: `{"get": "@", "default": ""}`,
			want: map[string]string{"admin_required": "role:admin", "get": "@", "default": ""},
		},
		{name: "empty file", file: "", want: map[string]string{"admin_required": "role:admin", "get": "rule:admin_required"}},
		{name: "bad rule", file: "get: role:admin and\n", wantErr: true},
		{name: "null value", file: "get:\n", wantErr: true},
		{name: "list value", file: "get: [role:admin]\n", wantErr: true},
		{name: "not a map", file: "- a\n", wantErr: true},
		{name: "duplicate key", file: "get: '@'\nget: '!'\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(base)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			err = e.LoadFile(path)
			if tt.wantErr {
				if err == nil {
					t.Fatal("LoadFile succeeded, want an error")
				}
				tt.want = map[string]string{"admin_required": "role:admin", "get": "rule:admin_required"}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, e.Rules()); diff != "" {
				t.Errorf("Rules() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverrideChangesDecision(t *testing.T) {
	e, err := New([]Default{
		{Name: "admin_required", Check: "role:admin"},
		{Name: "get", Check: "rule:admin_required"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]any{"roles": []string{"cloud_admin"}}
	if e.Enforce("get", nil, ops) {
		t.Fatal("cloud_admin allowed before override")
	}
	if err := e.LoadBytes([]byte("admin_required: role:cloud_admin\n")); err != nil {
		t.Fatal(err)
	}
	if !e.Enforce("get", nil, ops) {
		t.Error("override of a referenced rule not used")
	}
	// Reloading without the override restores the default.
	if err := e.LoadBytes([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if e.Enforce("get", nil, ops) {
		t.Error("override survived a reload that dropped it")
	}
}

func TestLoadFileMissing(t *testing.T) {
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadFile(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Error("LoadFile(missing) succeeded, want an error")
	}
}

func TestBaseDefaultsParse(t *testing.T) {
	e, err := New(BaseDefaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{
		RuleAdminRequired, RuleOwner, RuleAdminOrOwner, RuleServiceOrAdmin,
		RuleAdminOrTokenSubject, RuleServiceAdminOrTokenSubject, RuleAdminOrCredentialOwner,
		RuleAdminOrTargetDomain, RuleAdminOrTargetProject, RuleTrustOwner,
		SystemReader, SystemAdmin, DomainReader, DomainManager, DomainAdmin,
		ProjectReader, ProjectMember, ProjectManager, ProjectAdmin,
		RuleSystemAdminOrOwner, AdminOrSystemReaderOrOwner, RuleAdminOrSystemReader,
		AdminOrSystemReaderOrCredOwner, AdminOrCredOwner, AdminOrMemberAndCredOwner,
		DomainManagerAllowedRoles, RuleServiceAdminOrOwner, SystemOrProjectReader,
		SystemAdminOrProjectMember,
	} {
		r, err := Parse(c)
		if err != nil {
			t.Errorf("Parse(%q): %v", c, err)
			continue
		}
		// Every rule a persona refers to is among the base defaults.
		var refs func(Rule)
		refs = func(r Rule) {
			switch r := r.(type) {
			case ruleRef:
				if _, ok := e.Rules()[r.name]; !ok {
					t.Errorf("%q refers to rule %q, not in BaseDefaults", c, r.name)
				}
			case notRule:
				refs(r.r)
			case andRule:
				for _, x := range r {
					refs(x)
				}
			case orRule:
				for _, x := range r {
					refs(x)
				}
			}
		}
		refs(r)
	}
}

func TestPersonas(t *testing.T) {
	e, err := New(append(BaseDefaults(),
		Default{Name: "sys", Check: SystemReader},
		Default{Name: "svc", Check: RuleServiceAdminOrOwner},
		Default{Name: "grant", Check: "rule:domain_managed_target_role"},
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rule   string
		target map[string]any
		creds  map[string]any
		want   bool
	}{
		{"sys", nil, map[string]any{"roles": []string{"reader"}, "system_scope": "all"}, true},
		{"sys", nil, map[string]any{"roles": []string{"reader"}, "project_id": "p"}, false},
		{"svc", nil, map[string]any{"roles": []string{"service"}}, true},
		{"svc", map[string]any{"user_id": "u"}, map[string]any{"user_id": "u"}, true},
		{"svc", map[string]any{"user_id": "u"}, map[string]any{"user_id": "v"}, false},
		{"grant", map[string]any{"target.role.name": "member"}, nil, true},
		{"grant", map[string]any{"target.role.name": "admin"}, nil, false},
	}
	for _, tt := range tests {
		if got := e.Enforce(tt.rule, tt.target, tt.creds); got != tt.want {
			t.Errorf("Enforce(%s, %v, %v) = %v, want %v", tt.rule, tt.target, tt.creds, got, tt.want)
		}
	}
}

func TestReloadWhileEnforcing(t *testing.T) {
	e, err := New([]Default{{Name: "get", Check: "role:admin"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			e.Enforce("get", nil, map[string]any{"roles": []string{"admin"}})
		}
	}()
	for i := range 200 {
		if err := e.LoadBytes([]byte("get: role:r" + string(rune('a'+i%26)) + "\n")); err != nil {
			t.Error(err)
		}
	}
	<-done
}
