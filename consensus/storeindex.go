package consensus

// StoreIndex is the highest log index whose effects are in the local store.
// AppliedIndex is Raft's, which moves when entries are handed to the FSM
// goroutine, a moment before the store holds them: a loop that wakes on
// AppliedIndex and reads the store can miss the entry that woke it. Loops
// that react to the replica changing watch this one instead.
func (n *Node) StoreIndex() uint64 { return n.fsm.applied.Load() }
