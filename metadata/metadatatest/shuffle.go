package metadatatest

import "math/rand/v2"

// shuffled returns root with its lists in a new random order, the way v0.10.x serves them after
// each reload. The lists are copied, never permuted in place: answers being written share them.
func shuffled(root map[string]any) map[string]any {
	out := make(map[string]any, len(root))
	for k, v := range root {
		out[k] = v
	}
	for _, key := range []string{"hosts", "containers", "services"} {
		out[key] = shuffledList(asList(root[key]))
	}
	stacks := shuffledList(asList(root["stacks"]))
	for i, e := range stacks {
		st, ok := e.(map[string]any)
		if !ok {
			continue
		}
		c := make(map[string]any, len(st))
		for k, v := range st {
			c[k] = v
		}
		c["services"] = shuffledList(asList(st["services"]))
		stacks[i] = c
	}
	out["stacks"] = stacks
	return out
}

func shuffledList(l []any) []any {
	out := append([]any{}, l...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
