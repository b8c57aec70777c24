package volume

import (
	"runtime"
	"sync"
)

// parallelFor runs fn(lo, hi) over [0, n) split into chunks, on a pool of
// runtime.GOMAXPROCS(0) goroutines (the appliance has few cores and nothing
// else heavy runs during a job).
func parallelFor(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	// Several chunks per worker balance uneven work (slices at the edge of a
	// head are cheap to threshold, the middle ones are not).
	chunks := workers * 4
	if chunks > n {
		chunks = n
	}
	next := make(chan int, chunks)
	for c := 0; c < chunks; c++ {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				fn(c*n/chunks, (c+1)*n/chunks)
			}
		}()
	}
	wg.Wait()
}
