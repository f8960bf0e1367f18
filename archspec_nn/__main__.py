from archspec_nn import main

main()
