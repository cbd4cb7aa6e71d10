package workshop

import (
	"context"
	"sync"

	"github.com/kindlab/kindlab/server/store"
)

// MemStore is an in-memory Store for the package's tests.
type MemStore struct {
	mu        sync.Mutex
	workshops map[string]store.Workshop // by ID
	codes     map[string]string         // code → ID
	learners  map[string][]store.WorkshopLearner
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		workshops: make(map[string]store.Workshop),
		codes:     make(map[string]string),
		learners:  make(map[string][]store.WorkshopLearner),
	}
}

// CreateWorkshop implements Store.
func (m *MemStore) CreateWorkshop(_ context.Context, w store.Workshop) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.workshops[w.ID]; ok {
		return store.ErrConflict
	}
	if _, ok := m.codes[w.Code]; ok {
		return store.ErrConflict
	}
	w.Labs = append([]string(nil), w.Labs...)
	m.workshops[w.ID] = w
	m.codes[w.Code] = w.ID
	return nil
}

// Workshop implements Store.
func (m *MemStore) Workshop(_ context.Context, id string) (store.Workshop, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.workshops[id]
	if !ok {
		return store.Workshop{}, store.ErrNotFound
	}
	w.Labs = append([]string(nil), w.Labs...)
	return w, nil
}

// WorkshopByCode implements Store.
func (m *MemStore) WorkshopByCode(ctx context.Context, code string) (store.Workshop, error) {
	m.mu.Lock()
	id, ok := m.codes[code]
	m.mu.Unlock()
	if !ok {
		return store.Workshop{}, store.ErrNotFound
	}
	return m.Workshop(ctx, id)
}

// Learners implements Store.
func (m *MemStore) Learners(_ context.Context, workshopID string) ([]store.WorkshopLearner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.WorkshopLearner(nil), m.learners[workshopID]...), nil
}

// AddLearner implements Store.
func (m *MemStore) AddLearner(_ context.Context, l store.WorkshopLearner) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.workshops[l.WorkshopID]; !ok {
		return store.ErrNotFound
	}
	m.learners[l.WorkshopID] = append(m.learners[l.WorkshopID], l)
	return nil
}
