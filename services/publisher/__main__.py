from services.publisher.service import main

main()
