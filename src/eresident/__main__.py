from eresident.cli import main

main()
