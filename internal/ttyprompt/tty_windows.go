package ttyprompt

import "os"

// openTerminal opens the console, for reading answers (CONIN$) and asking (CONOUT$); closeAll
// closes both.
func openTerminal() (in, out *os.File, closeAll func(), err error) {
	in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		_ = in.Close()
		return nil, nil, nil, err
	}
	return in, out, func() { _ = in.Close(); _ = out.Close() }, nil
}
