package main

func (c *cli) serve(args []string) error { return usageError{"todo"} }
