package main

func (c *cli) lint(args []string) error     { return usageError{"todo"} }
func (c *cli) validate(args []string) error { return usageError{"todo"} }
func (c *cli) serve(args []string) error    { return usageError{"todo"} }
