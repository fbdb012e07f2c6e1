"""Tools that work on the program without deploying it (nothing here runs under `pulumi up`)."""
