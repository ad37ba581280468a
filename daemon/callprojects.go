package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/store"
)

// errProjectNotFound: the contract has no such project or version.
var errProjectNotFound = errors.New("project not found")

// projectResolver finds the code an HTTPS call runs: the project's active
// version, or the version the call names.
type projectResolver interface {
	resolve(ctx context.Context, projectID, versionKey string) (store.CodeSource, error)
}

// projectFunc adapts a function (tests) to projectResolver.
type projectFunc func(ctx context.Context, projectID, versionKey string) (store.CodeSource, error)

func (f projectFunc) resolve(ctx context.Context, projectID, versionKey string) (store.CodeSource, error) {
	return f(ctx, projectID, versionKey)
}

// viewer reads a contract view. *near.Client implements it.
type viewer interface {
	ViewFunction(ctx context.Context, contract, method string, args any, out any) error
}

// chainProjects resolves projects through the contract's views
// (get_project, get_version), keeping a
// project's active version for activeTTL (an activation reaches calls
// within that) and a version's code, which never changes, until evicted.
type chainProjects struct {
	chain     viewer
	contract  string
	activeTTL time.Duration

	mu       sync.Mutex
	active   map[string]activeEntry
	versions map[[2]string]store.CodeSource
}

type activeEntry struct {
	version string
	uuid    string
	at      time.Time
}

// projectUUIDs is what a projectResolver may also know: a project's
// contract-issued uuid, which names its storage and OUTLAYER_PROJECT_UUID.
type projectUUIDs interface {
	uuid(ctx context.Context, projectID string) (string, error)
}

// maxCachedProjects bounds each cache; past it the cache starts over.
const maxCachedProjects = 4096

func newChainProjects(chain viewer, contract string) *chainProjects {
	return &chainProjects{chain: chain, contract: contract, activeTTL: 5 * time.Second,
		active: map[string]activeEntry{}, versions: map[[2]string]store.CodeSource{}}
}

func (p *chainProjects) resolve(ctx context.Context, projectID, versionKey string) (store.CodeSource, error) {
	if versionKey == "" {
		v, err := p.activeVersion(ctx, projectID)
		if err != nil {
			return store.CodeSource{}, err
		}
		versionKey = v
	}
	p.mu.Lock()
	code, ok := p.versions[[2]string{projectID, versionKey}]
	p.mu.Unlock()
	if ok {
		return code, nil
	}
	var v *contracts.VersionView
	if err := p.chain.ViewFunction(ctx, p.contract, contracts.MethodGetVersion, contracts.GetVersionArgs{ProjectID: projectID, VersionKey: versionKey}, &v); err != nil {
		return store.CodeSource{}, fmt.Errorf("reading version %q of %s: %w", versionKey, projectID, err)
	}
	if v == nil {
		return store.CodeSource{}, fmt.Errorf("%s has no version %q: %w", projectID, versionKey, errProjectNotFound)
	}
	code = codeFromChain(v.Source)
	p.mu.Lock()
	if len(p.versions) >= maxCachedProjects {
		clear(p.versions)
	}
	p.versions[[2]string{projectID, versionKey}] = code
	p.mu.Unlock()
	return code, nil
}

func (p *chainProjects) activeVersion(ctx context.Context, projectID string) (string, error) {
	e, err := p.project(ctx, projectID)
	return e.version, err
}

// uuid is projectID's uuid (a project's uuid never changes; it is read
// with the active version).
func (p *chainProjects) uuid(ctx context.Context, projectID string) (string, error) {
	e, err := p.project(ctx, projectID)
	return e.uuid, err
}

// project is projectID's active version and uuid, read at most every
// activeTTL.
func (p *chainProjects) project(ctx context.Context, projectID string) (activeEntry, error) {
	p.mu.Lock()
	e, ok := p.active[projectID]
	p.mu.Unlock()
	if ok && time.Since(e.at) < p.activeTTL {
		return e, nil
	}
	var pv *contracts.ProjectView
	if err := p.chain.ViewFunction(ctx, p.contract, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: projectID}, &pv); err != nil {
		return activeEntry{}, fmt.Errorf("reading project %s: %w", projectID, err)
	}
	if pv == nil || pv.ActiveVersion == "" {
		return activeEntry{}, fmt.Errorf("%s: %w", projectID, errProjectNotFound)
	}
	e = activeEntry{version: pv.ActiveVersion, uuid: pv.UUID, at: time.Now()}
	p.mu.Lock()
	if len(p.active) >= maxCachedProjects {
		clear(p.active)
	}
	p.active[projectID] = e
	p.mu.Unlock()
	return e, nil
}
