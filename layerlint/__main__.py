from layerlint.cli import main

main()
