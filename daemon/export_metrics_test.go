package daemon

// MetricValue is the value of the node's unlabelled counter or gauge name,
// read from its own Prometheus registry (so it works after Stop too).
func MetricValue(n *Node, name string) (float64, bool) { return n.metrics.value(name) }

// value is the value of the unlabelled counter or gauge name in m's
// registry.
func (m *metrics) value(name string) (float64, bool) {
	families, err := m.reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != name || len(f.GetMetric()) != 1 {
			continue
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		if g := m.GetGauge(); g != nil {
			return g.GetValue(), true
		}
	}
	return 0, false
}
