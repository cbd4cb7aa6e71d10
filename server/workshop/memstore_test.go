package workshop

import (
	"context"
	"sync"
)

// MemStore is an in-memory Store for the package's tests.
type MemStore struct {
	mu        sync.Mutex
	workshops map[string]Workshop // by ID
	codes     map[string]string   // code → ID
	learners  map[string][]Learner
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		workshops: make(map[string]Workshop),
		codes:     make(map[string]string),
		learners:  make(map[string][]Learner),
	}
}

// CreateWorkshop implements Store.
func (m *MemStore) CreateWorkshop(_ context.Context, w Workshop) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.workshops[w.ID]; ok {
		return ErrConflict
	}
	if _, ok := m.codes[w.Code]; ok {
		return ErrConflict
	}
	w.Labs = append([]string(nil), w.Labs...)
	m.workshops[w.ID] = w
	m.codes[w.Code] = w.ID
	return nil
}

// Workshop implements Store.
func (m *MemStore) Workshop(_ context.Context, id string) (Workshop, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.workshops[id]
	if !ok {
		return Workshop{}, ErrNotFound
	}
	w.Labs = append([]string(nil), w.Labs...)
	return w, nil
}

// WorkshopByCode implements Store.
func (m *MemStore) WorkshopByCode(ctx context.Context, code string) (Workshop, error) {
	m.mu.Lock()
	id, ok := m.codes[code]
	m.mu.Unlock()
	if !ok {
		return Workshop{}, ErrNotFound
	}
	return m.Workshop(ctx, id)
}

// Learners implements Store.
func (m *MemStore) Learners(_ context.Context, workshopID string) ([]Learner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Learner(nil), m.learners[workshopID]...), nil
}

// AddLearner implements Store.
func (m *MemStore) AddLearner(_ context.Context, l Learner) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.workshops[l.WorkshopID]; !ok {
		return ErrNotFound
	}
	m.learners[l.WorkshopID] = append(m.learners[l.WorkshopID], l)
	return nil
}
