package upstream

// CloseIdleConnections closes the client's pooled connections that carry no
// request now. Calls may go on afterwards; they dial anew. A server calls it
// once its calls have drained, so the provider (or the emulator) is not left
// holding connections to a process that is going away.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }
