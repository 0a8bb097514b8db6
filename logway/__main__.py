from logway.cli import main

main()
